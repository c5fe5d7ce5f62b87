"""Only here to compile the translation catalogs into the wheel (pip install .)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):
    """Copies locales/*/LC_MESSAGES/*.po into the package and compiles each to .mo."""

    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        source = Path(__file__).resolve().parent / "locales"
        for po in source.glob("*/LC_MESSAGES/*.po"):
            target = Path(self.build_lib) / "bot" / "locales" / po.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(po, target)
            with po.open("rb") as fp:
                catalog = read_po(fp, locale=po.parts[-3])
            with target.with_suffix(".mo").open("wb") as fp:
                write_mo(fp, catalog)


setup(cmdclass={"build_py": BuildWithCatalogs})
