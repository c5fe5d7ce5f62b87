// A stand-in for Telegram's telegram-web-app.js, served only in tests and the playground (no
// network there). Like the real script it reads the launch parameters from the address's
// fragment (#tgWebAppData=...&tgWebAppThemeParams=...), exposes window.Telegram.WebApp and
// sets the --tg-theme-* CSS variables.
"use strict";
(function () {
  var params = new URLSearchParams(location.hash.slice(1));
  var theme = {};
  try {
    theme = JSON.parse(params.get("tgWebAppThemeParams") || "{}") || {};
  } catch (e) {
    theme = {};
  }
  var root = document.documentElement.style;
  Object.keys(theme).forEach(function (key) {
    root.setProperty("--tg-theme-" + key.replace(/_/g, "-"), String(theme[key]));
  });
  var dark = false;
  var bg = String(theme.bg_color || "");
  if (/^#[0-9a-f]{6}$/i.test(bg)) {
    var n = parseInt(bg.slice(1), 16);
    dark = ((n >> 16) & 255) * 0.299 + ((n >> 8) & 255) * 0.587 + (n & 255) * 0.114 < 128;
  }
  function button() {
    var handlers = [];
    return {
      isVisible: false,
      show: function () { this.isVisible = true; },
      hide: function () { this.isVisible = false; },
      onClick: function (f) { handlers.push(f); },
      offClick: function (f) { handlers = handlers.filter(function (h) { return h !== f; }); },
    };
  }
  window.Telegram = {
    WebApp: {
      initData: params.get("tgWebAppData") || "",
      platform: "shim",
      version: "8.0",
      themeParams: theme,
      colorScheme: dark ? "dark" : "light",
      BackButton: button(),
      ready: function () {},
      expand: function () {},
      openLink: function (url) { window.open(url, "_blank", "noopener"); },
      showAlert: function (message, callback) { window.alert(message); if (callback) callback(); },
      HapticFeedback: { notificationOccurred: function () {} },
    },
  };
})();
