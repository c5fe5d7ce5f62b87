// The Mini App's page: a week view for members, a console for staff. Plain JavaScript, no
// build. Every word comes from the server in the user's language (/api/me's strings); every
// request carries Telegram's signed initData and the server decides what is allowed.
"use strict";
(function () {
  var tg = window.Telegram && window.Telegram.WebApp;
  var initData = (tg && tg.initData) || "";
  var main = document.getElementById("main");
  var tabs = document.getElementById("tabs");
  var S = {}; // the user's strings
  var me = null;
  var state = { week: null, cohort: null, consoleTab: "sessions", back: null };

  // -- small helpers ------------------------------------------------------------------------

  function el(tag, props) {
    var node = document.createElement(tag);
    var children = Array.prototype.slice.call(arguments, 2);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === undefined || value === null || value === false) return;
        if (key === "class") node.className = value;
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
        else if (key in node && key !== "list") node[key] = value;
        else node.setAttribute(key, value === true ? "" : value);
      });
    }
    children.forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  // Texts the server formats as Telegram HTML (previews, the audit): it escapes everything
  // people wrote; here only <b> <i> <s> <u> <code> survive, without attributes, as well.
  var ALLOWED = { B: 1, I: 1, S: 1, U: 1, CODE: 1, BR: 1 };
  function html(source) {
    var doc = new DOMParser().parseFromString("<div>" + source + "</div>", "text/html");
    function clean(node) {
      var out = document.createDocumentFragment();
      node.childNodes.forEach(function (child) {
        if (child.nodeType === 3) out.appendChild(document.createTextNode(child.textContent));
        else if (child.nodeType === 1 && ALLOWED[child.tagName]) {
          var copy = document.createElement(child.tagName);
          copy.appendChild(clean(child));
          out.appendChild(copy);
        } else if (child.nodeType === 1) out.appendChild(clean(child));
      });
      return out;
    }
    var box = el("div", { class: "html" });
    box.appendChild(clean(doc.body.firstChild));
    return box;
  }

  function toast(message) {
    var box = document.getElementById("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 2500);
  }

  function api(path, options) {
    options = options || {};
    var headers = { Authorization: "tma " + initData };
    if (options.json !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: options.method || (options.json !== undefined || options.form ? "POST" : "GET"),
      headers: headers,
      body: options.json !== undefined ? JSON.stringify(options.json) : options.form,
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      var body = type.indexOf("json") >= 0 ? response.json() : response.blob();
      return body.then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  function failed(result) {
    var message = (result.data && result.data.error) || S.error || "Error";
    main.replaceChildren(el("p", { class: "notice", id: "refused" }, message));
  }

  function setBack(handler) {
    state.back = handler;
    if (!tg || !tg.BackButton) return;
    if (handler) tg.BackButton.show();
    else tg.BackButton.hide();
  }

  // -- the week -----------------------------------------------------------------------------

  function loadWeek(start) {
    return api("api/week" + (start ? "?start=" + encodeURIComponent(start) : "")).then(
      function (result) {
        if (!result.ok) return failed(result);
        state.week = result.data;
        renderWeek(result.data);
      }
    );
  }

  function sessionButton(s) {
    var classes = "session" + (s.cancelled ? " cancelled" : "") + (s.state === "over" ? " over" : "");
    var title = el("span", { class: "title" }, s.title);
    var mark = null;
    if (s.cancelled) mark = el("span", { class: "mark cancelled" }, S.cancelled);
    else if (s.state === "now") mark = el("span", { class: "mark now" }, S.now);
    else if (s.state === "next") mark = el("span", { class: "mark next" }, S.next);
    return el(
      "button",
      { class: classes, type: "button", "data-id": String(s.id), onclick: function () { showSession(s.id); } },
      el("span", { class: "time" }, s.start + "–" + s.end),
      el("span", null, title, mark),
      s.place ? el("span", { class: "place" }, s.place) : null
    );
  }

  function renderWeek(week) {
    setBack(null);
    var bar = el(
      "div",
      { class: "weekbar" },
      el("button", { class: "plain", type: "button", id: "earlier", "aria-label": S.earlier,
        disabled: !week.previous, onclick: function () { loadWeek(week.previous); } }, "‹"),
      el("span", { class: "label", id: "week-label" }, week.label),
      el("button", { class: "plain", type: "button", id: "later", "aria-label": S.later,
        disabled: !week.next, onclick: function () { loadWeek(week.next); } }, "›")
    );
    var days = week.days.map(function (day) {
      return el(
        "section",
        { class: "day" + (day.today ? " today" : ""), id: day.today ? "today" : null, "data-date": day.date },
        el("h2", null, el("span", null, day.heading), day.today ? el("span", { class: "badge" }, S.today) : null),
        day.sessions.length
          ? el.apply(null, ["div", null].concat(day.sessions.map(sessionButton)))
          : el("div", { class: "empty" }, S.nothing)
      );
    });
    var head = el("h1", null, week.cohort);
    var back = week.week !== week.this_week
      ? el("button", { class: "plain", type: "button", onclick: function () { loadWeek(week.this_week); } }, S.this_week)
      : null;
    var box = el.apply(null, ["div", { id: "week" }, head, bar, back].concat(days));
    var extras = el("div", { id: "extras" });
    main.replaceChildren(box, extras);
    if (!document.body.dataset.rendered) {
      // The first render, from navigation start: the browser test reports it.
      document.body.dataset.rendered = String(Math.round(performance.now()));
      loadExtras(extras);
    } else {
      loadExtras(extras);
    }
  }

  // Swipe left or right between weeks.
  var touch = null;
  main.addEventListener("touchstart", function (e) {
    touch = e.touches.length === 1 ? [e.touches[0].clientX, e.touches[0].clientY] : null;
  }, { passive: true });
  main.addEventListener("touchend", function (e) {
    if (!touch || !state.week || !document.getElementById("week")) return;
    var dx = e.changedTouches[0].clientX - touch[0];
    var dy = e.changedTouches[0].clientY - touch[1];
    touch = null;
    if (Math.abs(dx) < 60 || Math.abs(dy) > Math.abs(dx)) return;
    var target = dx < 0 ? state.week.next : state.week.previous;
    if (target) loadWeek(target);
  });

  function showSession(id) {
    api("api/sessions/" + encodeURIComponent(id)).then(function (result) {
      if (!result.ok) return failed(result);
      var s = result.data;
      var rows = [];
      [["department", s.department], ["place", s.place], ["host", s.host], ["notes", s.notes]].forEach(
        function (pair) {
          if (pair[1]) rows.push(el("dt", null, S[pair[0]]), el("dd", null, pair[1]));
        }
      );
      var map = s.map
        ? el("a", { href: s.map, target: "_blank", rel: "noopener", id: "map",
            onclick: function (e) { if (tg && tg.openLink) { e.preventDefault(); tg.openLink(s.map); } } }, S.map)
        : null;
      main.replaceChildren(
        el("button", { class: "plain", type: "button", onclick: goBack }, "‹ " + S.back),
        el(
          "div",
          { class: "card", id: "session" },
          el("h1", { class: s.cancelled ? "cancelled" : null }, s.title),
          el("div", { class: "hint" }, s.day + ", " + s.start + "–" + s.end),
          s.cancelled ? el("p", null, el("b", null, S.cancelled + (s.reason ? ": " + s.reason : ""))) : null,
          el.apply(null, ["dl", { class: "details" }].concat(rows)),
          map ? el("p", null, "📍 ", map) : null
        )
      );
      setBack(goBack);
      window.scrollTo(0, 0);
    });
  }

  function goBack() {
    if (state.week) renderWeek(state.week);
    else start();
  }

  // -- reminders and the calendar -----------------------------------------------------------

  function loadExtras(box) {
    api("api/reminders").then(function (result) {
      if (!result.ok) return;
      box.replaceChildren(reminderCard(result.data), calendarCard());
    });
  }

  function reminderCard(r) {
    var card = el("div", { class: "card", id: "reminders" });
    function save(next) {
      api("api/reminders", { json: next }).then(function (result) {
        if (!result.ok) return toast(result.data.error || S.error);
        card.replaceWith(reminderCard(result.data));
        toast(result.data.message || S.saved);
      });
    }
    function toggle(label, key) {
      var box = el("input", { type: "checkbox", checked: r[key], onchange: function () {
        var next = { on: r.on, digest: r.digest, leads: r.leads };
        next[key] = box.checked;
        save(next);
      } });
      return el("label", { class: "toggle" }, el("span", null, label), box);
    }
    var chips = r.choices.map(function (n) {
      var on = r.leads.indexOf(n) >= 0;
      return el("button", { type: "button", "aria-pressed": on ? "true" : "false", disabled: !r.on,
        onclick: function () {
          var leads = on ? r.leads.filter(function (x) { return x !== n; }) : r.leads.concat([n]);
          if (!leads.length) return toast(S.keep_one);
          save({ on: r.on, digest: r.digest, leads: leads });
        } }, S.minutes.replace("{n}", String(n)));
    });
    card.append(
      el("h2", null, S.reminders),
      toggle(S.reminders_on, "on"),
      el("div", { class: "hint" }, S.how_early),
      el.apply(null, ["div", { class: "chips" }].concat(chips)),
      toggle(S.digest, "digest")
    );
    return card;
  }

  function calendarCard() {
    return el(
      "div",
      { class: "card", id: "calendar" },
      el("h2", null, S.calendar),
      el("p", { class: "hint" }, S.calendar_hint),
      el("button", { type: "button", onclick: function () {
        api("api/calendar").then(function (result) {
          if (!result.ok) return toast((result.data && result.data.error) || S.error);
          var link = el("a", { href: URL.createObjectURL(result.data), download: "programme.ics" });
          document.body.appendChild(link);
          link.click();
          link.remove();
        });
      } }, S.download),
      " ",
      el("button", { class: "plain", type: "button", id: "send-calendar", onclick: function () {
        api("api/calendar", { method: "POST", json: {} }).then(function (result) {
          toast((result.data && (result.data.message || result.data.error)) || S.error);
        });
      } }, S.send_to_chat)
    );
  }

  // -- the console --------------------------------------------------------------------------

  function showConsole() {
    setBack(null);
    api("api/cohorts").then(function (result) {
      if (!result.ok) return failed(result);
      var list = result.data.cohorts;
      if (!list.length) {
        main.replaceChildren(el("p", { class: "notice" }, S.not_allowed));
        return;
      }
      var cohort = list.filter(function (c) { return state.cohort && c.code === state.cohort.code; })[0] || list[0];
      state.cohort = cohort;
      var picker = el("select", { id: "cohort", onchange: function () {
        state.cohort = list.filter(function (c) { return c.code === picker.value; })[0];
        renderConsole(result.data, picker);
      } });
      list.forEach(function (c) {
        picker.appendChild(el("option", { value: c.code, selected: c.code === cohort.code }, c.code + " · " + c.name));
      });
      renderConsole(result.data, picker);
    });
  }

  function renderConsole(data, picker) {
    var cohort = state.cohort;
    var names = ["sessions", "roster", "attendance", "questions", "announcements", "audit"].filter(function (n) {
      return cohort.can[n];
    });
    if (data.import) names.push("import");
    if (names.indexOf(state.consoleTab) < 0) state.consoleTab = names[0];
    var body = el("div", { id: "console-body" });
    var bar = el.apply(null, ["div", { class: "tabs", id: "console-tabs" }].concat(names.map(function (n) {
      return el("button", { type: "button", "data-tab": n, "aria-pressed": n === state.consoleTab ? "true" : "false",
        onclick: function () { state.consoleTab = n; renderConsole(data, picker); } }, S[n]);
    })));
    main.replaceChildren(
      el("div", null, picker, el("div", { class: "hint" }, cohort.dates)),
      bar,
      body
    );
    var views = { sessions: consoleSessions, roster: consoleRoster, announcements: consoleAnnouncements,
      audit: consoleAudit, import: consoleImport, attendance: consoleAttendance, questions: consoleQuestions };
    views[state.consoleTab](body, cohort);
  }

  function cohortApi(cohort, what) {
    return api("api/cohorts/" + encodeURIComponent(cohort.code) + "/" + what);
  }

  function consoleSessions(body, cohort) {
    cohortApi(cohort, "sessions").then(function (result) {
      if (!result.ok) return body.replaceChildren(el("p", { class: "notice" }, result.data.error));
      var rows = [];
      var lastDay = null;
      result.data.sessions.forEach(function (s) {
        if (s.day !== lastDay) {
          rows.push(el("h2", { class: "dayhead" }, s.day));
          lastDay = s.day;
        }
        rows.push(sessionRow(s, result.data, body, cohort));
      });
      body.replaceChildren(el.apply(null, ["div", { class: "card", id: "sessions" }].concat(rows)));
    });
  }

  function sessionRow(s, data, body, cohort) {
    var row = el("div", { class: "row" + (s.cancelled ? " cancelled" : "") + (s.state === "over" ? " over" : ""),
      "data-id": String(s.id) });
    var summary = el("div", { class: "summary" },
      el("div", null,
        el("span", { class: "num" }, "#" + s.id + " "),
        el("b", { class: "what" }, s.start + "–" + s.end)),
      el("div", { class: "what" }, s.title),
      el("div", { class: "hint" }, s.location + (s.cancelled && s.reason ? " · " + s.reason : "")));
    var edit = el("button", { class: "plain", type: "button", "data-edit": String(s.id),
      "aria-label": S.move + " · " + S.room + " · " + (s.cancelled ? S.restore : S.cancel),
      onclick: function () {
        edit.hidden = true;
        row.appendChild(editor(s, data, body, cohort));
      } }, "✎");
    row.append(el("div", { class: "line" }, summary, edit));
    return row;
  }

  function editor(s, data, body, cohort) {
    var box = el("div", { class: "editor" });
    var result = el("div", { class: "result" });
    function ask(payload) {
      payload.revision = s.revision;
      api("api/sessions/" + s.id + "/change", { json: payload }).then(function (r) {
        result.replaceChildren();
        var d = r.data || {};
        if (!r.ok) return result.appendChild(el("p", { class: "preview" }, d.error || S.error));
        if (d.stale || d.refused) {
          result.appendChild(el("div", { class: "preview" }, html(d.stale || d.refused)));
          if (d.stale) setTimeout(function () { consoleSessions(body, cohort); }, 1500);
          return;
        }
        if (d.preview) {
          result.append(
            el("div", { class: "preview", id: "preview" }, html(d.preview)),
            el("div", { class: "actions" },
              el("button", { type: "button", id: "confirm", onclick: function () {
                payload.confirm = true;
                ask(payload);
              } }, S.confirm),
              el("button", { class: "plain", type: "button", onclick: function () { result.replaceChildren(); } }, S.discard))
          );
          return;
        }
        if (d.saved) {
          toast(S.saved);
          result.appendChild(el("div", { class: "preview", id: "saved" }, html(d.saved)));
          setTimeout(function () { consoleSessions(body, cohort); }, 1200);
        }
      });
    }
    if (s.cancelled) {
      box.append(el("div", { class: "actions" },
        el("button", { type: "button", "data-action": "restore", onclick: function () { ask({ action: "restore" }); } }, S.restore)));
    } else {
      var day = el("input", { type: "date", name: "date", value: s.date, min: data.arrives, max: data.departs, "aria-label": S.date });
      var time = el("input", { type: "time", name: "time", value: s.start, "aria-label": S.time });
      var place = el("input", { type: "text", name: "place", value: s.location, maxLength: 200, "aria-label": S.place });
      var reason = el("input", { type: "text", name: "reason", maxLength: 300, placeholder: S.reason, "aria-label": S.reason });
      box.append(
        el("div", { class: "line" }, day, time,
          el("button", { type: "button", "data-action": "move", onclick: function () {
            ask({ action: "move", date: day.value, time: time.value });
          } }, S.move)),
        el("div", { class: "line" }, place,
          el("button", { type: "button", "data-action": "room", onclick: function () {
            ask({ action: "room", place: place.value });
          } }, S.room)),
        el("div", { class: "line" }, reason,
          el("button", { class: "danger", type: "button", "data-action": "cancel", onclick: function () {
            ask({ action: "cancel", reason: reason.value });
          } }, S.cancel))
      );
    }
    box.appendChild(result);
    return box;
  }

  function consoleRoster(body, cohort) {
    cohortApi(cohort, "roster").then(function (result) {
      if (!result.ok) return body.replaceChildren(el("p", { class: "notice" }, result.data.error));
      var rows = result.data.members.map(function (m) {
        return el("div", { class: "row" },
          el("div", { class: "head" }, el("b", null, m.name), m.username ? el("span", { class: "hint" }, "@" + m.username) : null),
          el("div", { class: "hint" }, [m.role, m.language, m.reachable ? "✅ " + S.reachable : "🚫 " + S.blocked, m.seen].filter(Boolean).join(" · ")));
      });
      body.replaceChildren(el.apply(null, ["div", { class: "card", id: "roster" }].concat(rows)));
    });
  }

  // The roll-call of the session going on (or the next), or of one of today's sessions;
  // staff who may mark tap a name for the marks, made as the chat's buttons make them.
  function consoleAttendance(body, cohort, sessionId) {
    var query = sessionId ? "?session=" + encodeURIComponent(sessionId) : "";
    cohortApi(cohort, "attendance" + query).then(function (result) {
      if (!result.ok) return body.replaceChildren(el("p", { class: "notice" }, result.data.error));
      var d = result.data;
      var picker = null;
      if (d.today.length) {
        picker = el("select", { id: "attendance-session", "aria-label": S.attendance, onchange: function () {
          consoleAttendance(body, cohort, picker.value);
        } });
        d.today.forEach(function (s) {
          picker.appendChild(el("option", { value: String(s.id), selected: d.roll && d.roll.session.id === s.id },
            s.start + " · " + s.title + (s.cancelled ? " · " + S.cancelled : "")));
        });
        if (d.roll && !d.today.some(function (s) { return s.id === d.roll.session.id; })) {
          picker.insertBefore(el("option", { value: String(d.roll.session.id), selected: true },
            d.roll.session.day + " " + d.roll.session.start + " · " + d.roll.session.title), picker.firstChild);
        }
      }
      var card = el("div", { class: "card", id: "attendance" });
      body.replaceChildren(picker ? el("div", { class: "line" }, picker) : "", card);
      if (!d.roll) return card.appendChild(el("p", null, d.message));
      renderRoll(card, d.roll, d.marks);
    });
  }

  function renderRoll(card, roll, marks) {
    var s = roll.session;
    var rows = roll.students.map(function (m) {
      var row = el("div", { class: "row", "data-student": String(m.id), "data-status": m.status });
      var summary = el("span", { class: "summary" }, m.label + " · ", el("b", null, m.name));
      var head = el("div", { class: "line" }, summary);
      row.appendChild(head);
      if (m.detail) row.appendChild(el("div", { class: "hint" }, html(m.detail)));
      if (marks.length) {
        var open = el("button", { class: "plain", type: "button", "data-mark": String(m.id), "aria-label": S.mark_hint,
          onclick: showMarks }, "✎");
        summary.addEventListener("click", showMarks);
        head.appendChild(open);
      }
      function showMarks() {
        if (open.hidden) return;
        open.hidden = true;
        row.appendChild(el.apply(null, ["div", { class: "actions" }].concat(marks.map(function (k) {
          return el("button", { type: "button", "data-status": k.status, onclick: function () {
            api("api/sessions/" + s.id + "/attendance", { json: { student: m.id, status: k.status } }).then(function (r) {
              var d = r.data || {};
              if (!r.ok) return toast(d.error || S.error);
              toast(d.message);
              card.replaceChildren();
              renderRoll(card, d.roll, marks);
            });
          } }, k.label);
        }))));
      }
      return row;
    });
    card.append(
      el("div", { class: "what" }, el("b", null, s.title), el("span", { class: "num" }, " #" + s.id)),
      el("div", { class: "hint" }, s.day + ", " + s.start + "–" + s.end + (s.cancelled ? " · " + S.cancelled : "")),
      el("p", { id: "attendance-counts" }, roll.counts.map(function (c) { return c.label + ": " + c.n; }).join(" · "))
    );
    rows.forEach(function (r) { card.appendChild(r); });
    if (marks.length && rows.length) card.appendChild(el("p", { class: "hint" }, S.mark_hint));
  }

  function consoleQuestions(body, cohort) {
    cohortApi(cohort, "questions").then(function (result) {
      if (!result.ok) return body.replaceChildren(el("p", { class: "notice" }, result.data.error));
      var list = result.data.questions;
      var hint = el("p", { class: "hint", id: "questions-hint" }, S.questions_hint);
      if (!list.length) return body.replaceChildren(el("p", { class: "notice" }, S.no_questions), hint);
      body.replaceChildren(el.apply(null, ["div", { class: "card", id: "questions" }].concat(list.map(function (q) {
        return el("div", { class: "row", "data-id": String(q.id) },
          el("div", null, el("span", { class: "num" }, "#" + q.id + " "), el("b", null, q.student)),
          el("div", { class: "hint" }, [q.age, q.owner, q.state, q.undelivered ? "⚠️ " + q.undelivered : ""]
            .filter(Boolean).join(" · ")),
          el("div", { class: "html" }, q.text));
      }))), hint);
    });
  }

  function consoleAnnouncements(body, cohort) {
    cohortApi(cohort, "announcements").then(function (result) {
      if (!result.ok) return body.replaceChildren(el("p", { class: "notice" }, result.data.error));
      var list = result.data.announcements;
      if (!list.length) return body.replaceChildren(el("p", { class: "notice" }, S.no_announcements));
      body.replaceChildren.apply(body, list.map(function (a) {
        var groups = [["confirmed", "✅"], ["waiting", "⏳"], ["not_delivered", "🚫"], ["sending", "📤"]];
        return el.apply(null, ["div", { class: "card announcement" },
          el("div", { class: "hint" }, a.sent),
          el("p", { class: "html" }, a.text)].concat(groups.filter(function (g) {
            return a.groups[g[0]].length;
          }).map(function (g) {
            return el("p", null, el("b", null, g[1] + " " + S[g[0]] + " (" + a.groups[g[0]].length + "): "), a.groups[g[0]].join(", "));
          })));
      }));
    });
  }

  function consoleAudit(body, cohort) {
    cohortApi(cohort, "audit").then(function (result) {
      if (!result.ok) return body.replaceChildren(el("p", { class: "notice" }, result.data.error));
      var entries = result.data.entries;
      if (!entries.length) return body.replaceChildren(el("p", { class: "notice" }, S.no_changes));
      body.replaceChildren(el.apply(null, ["div", { class: "card", id: "audit" }].concat(entries.map(function (e) {
        return el("div", { class: "row" }, html(e));
      }))));
    });
  }

  function consoleImport(body) {
    var file = el("input", { type: "file", id: "file", accept: ".csv,.xlsx" });
    var result = el("div", { class: "result" });
    function decide(id, action) {
      api("api/import/" + id, { json: { action: action } }).then(function (r) {
        var d = r.data || {};
        result.replaceChildren(el("div", { class: "preview" }, d.error ? d.error : html(d.done || d.preview || "")));
      });
    }
    body.replaceChildren(el("div", { class: "card", id: "import" },
      el("p", { class: "hint" }, S.choose_file),
      el("div", { class: "line" }, file,
        el("button", { type: "button", id: "upload", onclick: function () {
          if (!file.files.length) return toast(S.choose_file);
          var form = new FormData();
          form.append("file", file.files[0]);
          api("api/import", { form: form }).then(function (r) {
            var d = r.data || {};
            result.replaceChildren(el("div", { class: "preview", id: "import-preview" },
              d.preview ? html(d.preview) : (d.error || S.error)));
            if (d.import) {
              result.appendChild(el("div", { class: "actions" },
                el("button", { type: "button", id: "import-confirm", onclick: function () { decide(d.import, "confirm"); } }, S.confirm),
                el("button", { class: "plain", type: "button", onclick: function () { decide(d.import, "discard"); } }, S.discard)));
            }
          });
        } }, S.upload)),
      result));
  }

  // -- start --------------------------------------------------------------------------------

  function showTabs(view) {
    if (!me.staff || !me.cohort) return;
    tabs.hidden = false;
    tabs.replaceChildren(
      el("button", { type: "button", "aria-pressed": view === "week" ? "true" : "false", onclick: function () {
        showTabs("week"); loadWeek(); } }, S.timetable_tab),
      el("button", { type: "button", id: "console-tab", "aria-pressed": view === "console" ? "true" : "false", onclick: function () {
        showTabs("console"); showConsole(); } }, S.console_tab)
    );
  }

  function start() {
    var wanted = new URLSearchParams(location.search).get("view");
    var week = api("api/week");
    api("api/me").then(function (result) {
      if (!result.ok) return failed(result);
      me = result.data;
      S = me.strings;
      document.documentElement.lang = me.language;
      document.title = S.title;
      if (wanted === "console" || (!me.cohort && me.staff)) {
        showTabs("console");
        return showConsole();
      }
      if (!me.cohort) {
        main.replaceChildren(el("p", { class: "notice", id: "refused" }, S.no_group));
        return;
      }
      showTabs("week");
      return week.then(function (r) {
        if (!r.ok) return failed(r);
        state.week = r.data;
        renderWeek(r.data);
        var today = document.getElementById("today");
        if (today && today.scrollIntoView) today.scrollIntoView({ block: "start" });
      });
    });
  }

  if (!initData) {
    document.getElementById("outside").hidden = false;
    return;
  }
  if (tg.ready) tg.ready();
  if (tg.expand) tg.expand();
  if (tg.BackButton && tg.BackButton.onClick) {
    tg.BackButton.onClick(function () { if (state.back) state.back(); });
  }
  start();
})();
