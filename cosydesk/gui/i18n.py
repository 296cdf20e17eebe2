"""The interface language: the translation that matches the system's languages, installed at start.

The texts in the code are English; a translation is a `cosydesk_<language>.qm` file shipped in
cosydesk/gui/translations (made from the .ts file beside it: see README, "Translations"). The
system's preferred languages come from QLocale, so LANGUAGE, LC_ALL, LC_MESSAGES and LANG apply
on Linux, and the desktop's language choice elsewhere. The first preferred language that is
English, or that a shipped translation speaks, wins: a person whose LANGUAGE is "en:zh_CN" keeps
English. Qt's own texts (OK, Cancel, the file dialog) follow through Qt's qtbase translation.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "cosydesk"
ENGLISH = "en"


def mark(context: str, text: str) -> str:
    """Mark `text` for the translation tools without translating it now (Qt's
    QT_TRANSLATE_NOOP): show it later through QCoreApplication.translate(context, text)."""
    return text


QT_TRANSLATE_NOOP = mark  # the name pyside6-lupdate looks for


def shipped() -> list[str]:
    """The languages cosydesk has a compiled translation for ("zh_CN", ...), sorted."""
    prefix = f"{DOMAIN}_"
    return sorted(
        path.stem[len(prefix) :]
        for path in TRANSLATIONS_DIR.glob(f"{prefix}*.qm")
        if path.is_file()
    )


def choose_language(preferred: list[str], available: list[str]) -> str:
    """The translation for the first of the `preferred` languages (BCP 47 names, best first, as
    QLocale.uiLanguages gives them) that is English or that one of `available` speaks (same
    language and script: zh-Hans-SG takes zh_CN, zh-TW does not); ENGLISH when none is."""
    for name in preferred:
        wanted = QLocale(name)
        if wanted.language() in (QLocale.Language.English, QLocale.Language.C):
            return ENGLISH
        for code in available:
            have = QLocale(code)
            if have.language() == wanted.language() and have.script() == wanted.script():
                return code
    return ENGLISH


@dataclass
class Translation:
    """The translators installed for one language; `remove()` takes them out again."""

    language: str
    translators: list[QTranslator] = field(default_factory=list)

    def remove(self) -> None:
        """Uninstall the translators (widgets built afterwards are English again)."""
        for translator in self.translators:
            QCoreApplication.removeTranslator(translator)
        self.translators.clear()


def _load(directory: str | Path, base: str, language: str) -> QTranslator | None:
    translator = QTranslator(QCoreApplication.instance())
    if translator.load(f"{base}_{language}", str(directory)):
        return translator
    return None


def install_translation(locale: QLocale | None = None) -> Translation:
    """Install the translation for `locale`'s languages (default: the system's, or what
    QLocale.setDefault chose), and Qt's own for the same language where Qt has it.

    Call it once the QApplication exists and before any window is built: texts are translated
    when a widget is made. English, the language of the code, needs no file.
    """
    locale = locale if locale is not None else QLocale()
    preferred = locale.uiLanguages()
    language = choose_language(preferred, shipped())
    translation = Translation(language)
    if language == ENGLISH:
        log.info("Interface language: English (system languages: %s)", ", ".join(preferred))
        return translation
    ours = _load(TRANSLATIONS_DIR, DOMAIN, language)
    if ours is None:  # shipped() saw the file, so it is damaged
        log.warning(
            "The translation %s_%s.qm could not be loaded; English is used", DOMAIN, language
        )
        return translation
    loaded = [f"{DOMAIN}_{language}.qm"]
    translation.translators.append(ours)
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    qt = _load(qt_dir, "qtbase", language)
    if qt is not None:
        translation.translators.append(qt)
        loaded.append(f"qtbase_{language}.qm")
    else:
        log.info("Qt has no qtbase_%s.qm in %s; its own buttons stay English", language, qt_dir)
    for translator in translation.translators:
        QCoreApplication.installTranslator(translator)
    log.info("Interface language: %s (loaded %s)", language, ", ".join(loaded))
    return translation


def plain(label: str) -> str:
    """A label without its mnemonic and colon, as screen readers should say it:
    "Model &folder:" -> "Model folder", "模型文件夹(&F)：" -> "模型文件夹"."""
    text = re.sub(r"\(&[^&\s]\)", "", label).replace("&&", "\0").replace("&", "")
    return text.replace("\0", "&").rstrip(":：").strip()
