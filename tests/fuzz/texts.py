"""A seeded generator of texts to read aloud: what a clipboard, a terminal or a person hands over.

`text_case(rng)` returns (description, text). The mix: empty and whitespace-only text, control
characters and ANSI escapes, only punctuation, emoji, mixed and right-to-left scripts, combining
marks, very long words, texts of up to 100,000 characters, `<|...|>` control strings and phone
tags (whole, broken and nested), numbers, dates, times, amounts and units in many forms, lone
surrogates, and random mixtures of all of these.
"""

from __future__ import annotations

import random
from collections.abc import Callable

WORDS = (
    *("the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while"),
    *("reading", "a", "long", "book", "aloud", "to", "friends", "hello", "world", "this"),
    *("is", "a", "test", "of", "speech", "every", "voice", "sounds", "different", "at", "night"),
)

SCRIPTS = (
    "Привет, как дела? Всё хорошо.",
    "Γειά σου κόσμε.",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם, מה שלומך?",
    "你好，世界。今天天气很好！",
    "今日は良い天気ですね。カタカナもあります。",
    "안녕하세요, 세계.",
    "สวัสดีชาวโลก",
    "नमस्ते दुनिया।",
    "Ça va? Ãéîõü ß ÆØÅ.",
    "Tiếng Việt có dấu.",
)

SPECIAL = (
    "<|endofprompt|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|zh|>",
    "<|en|>",
    "<|breath|>",
    "<|laughter|>",
    "<|strong|>",
    "<|",
    "|>",
    "<||>",
    "<|" + "x" * 50 + "|>",
    "<|<|endofprompt|>|>",
    "[breath]",
    "[laughter]",
    "<strong>loud</strong>",
    "<laughter>",
)

PHONES = ("[AH0]", "[B]", "[IY1]", "[ZH]", "[AH9]", "[]", "[", "]", "[[AH0]]", "[ěn]", "[x y]")

NUMBERS = (
    "0",
    "-0",
    "007",
    "1,234",
    "1,234,567.89",
    "1.234,56",
    "12 345",
    "3.14159",
    ".5",
    "5.",
    "1e10",
    "6.02e23",
    "-1E-9",
    "0x1F",
    "0b1010",
    "1/2",
    "½",
    "¾",
    "10^100",
    "2^64",
    "99.999%",
    "50 %",
    "+49 30 1234567",
    "(555) 123-4567",
    "192.168.0.1",
    "v1.2.3",
    "1st",
    "22nd",
    "103rd",
    "4th",
    "XIV",
    "1990s",
    "'90s",
    "2024-02-29",
    "2023-02-30",
    "12/31/1999",
    "31.12.1999",
    "1999年12月31日",
    "3:45pm",
    "23:59:60",
    "24:00",
    "12:00 AM",
    "$5",
    "$1,000,000",
    "$0.99",
    "€5,50",
    "£3.2m",
    "¥1000",
    "₹500",
    "5kg",
    "10 km/h",
    "-40°C",
    "98.6°F",
    "100 m²",
    "3 cm³",
    "No. 5",
    "#1",
    "A4",
    "COVID-19",
    "H2O",
    "1" * 40,
    "12345678901234567890",
)

_UNICODE_SPACES = (
    " \t\n\r\x0b\x0c\u00a0\u1680\u2000\u2003\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _sentence(rng: random.Random) -> str:
    return _words(rng, rng.randint(2, 14)).capitalize() + rng.choice([".", "!", "?", ";", ""])


def _empty(rng: random.Random) -> tuple[str, str]:
    return "empty or blank", "".join(rng.choice(_UNICODE_SPACES) for _ in range(rng.randint(0, 8)))


def _controls(rng: random.Random) -> tuple[str, str]:
    pool = [chr(c) for c in (*range(0, 32), 127, *range(0x80, 0xA0))] + ["\ufeff", "\u200b"]
    parts = [_sentence(rng)]
    for _ in range(rng.randint(1, 10)):
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(pool) * rng.randint(1, 3))
    return "control characters", "".join(parts)


def _ansi(rng: random.Random) -> tuple[str, str]:
    codes = ["\x1b[31m", "\x1b[0m", "\x1b[1;4;5m", "\x1b]0;title\x07", "\x1b[2J", "\x1b[10;20H"]
    text = " ".join(rng.choice(codes) + _sentence(rng) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.3:
        text = rng.choice(codes) * rng.randint(1, 5)  # nothing but escapes
    return "ANSI escapes", text


def _punctuation(rng: random.Random) -> tuple[str, str]:
    marks = ".,;:!?-–—…'\"()[]{}<>/\\|@#$%^&*_=+~`。，、！？「」『』《》"
    return "only punctuation", "".join(rng.choice(marks) for _ in range(rng.randint(1, 60)))


def _emoji(rng: random.Random) -> tuple[str, str]:
    pool = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇩🇪", "❤️", "🏳️‍🌈", "🤖", "\U0001f9ea", "☃", "✈︎", "🔥" * 20]
    parts = [rng.choice(pool) for _ in range(rng.randint(1, 12))]
    if rng.random() < 0.5:
        parts.insert(rng.randrange(len(parts)), _sentence(rng))
    return "emoji", " ".join(parts) if rng.random() < 0.5 else "".join(parts)


def _scripts(rng: random.Random) -> tuple[str, str]:
    parts = [rng.choice(SCRIPTS) for _ in range(rng.randint(1, 5))]
    if rng.random() < 0.4:
        parts.insert(rng.randrange(len(parts)), "\u202e" + _sentence(rng) + "\u202c")
    if rng.random() < 0.3:
        parts.append("\u200f\u200e\u2066" + _sentence(rng) + "\u2069")
    return "mixed scripts", " ".join(parts)


def _combining(rng: random.Random) -> tuple[str, str]:
    marks = [chr(c) for c in range(0x300, 0x370)]
    base = _sentence(rng)
    return "combining marks", "".join(
        ch + "".join(rng.choice(marks) for _ in range(rng.randint(0, 30))) for ch in base
    )


def _long_word(rng: random.Random) -> tuple[str, str]:
    size = rng.choice([100, 1000, 5000, 20000])
    word = "".join(rng.choice("abcdefghij") for _ in range(size))
    return f"a word of {size} letters", rng.choice([word, f"Say {word} now.", word + "." + word])


def _long_text(rng: random.Random) -> tuple[str, str]:
    size = rng.choice([5000, 30000, 100000])
    shape = rng.randrange(4)
    if shape == 0:  # prose
        text = " ".join(_sentence(rng) for _ in range(size // 40))
    elif shape == 1:  # one run-on sentence without a mark
        text = _words(rng, size // 5)
    elif shape == 2:  # one line of digits and commas
        text = ",".join(str(rng.randrange(10**6)) for _ in range(size // 7))
    else:  # many paragraphs
        text = "\n\n".join(_sentence(rng) for _ in range(size // 40))
    return f"{size:,} characters (shape {shape})", text[:size]


def _control_strings(rng: random.Random) -> tuple[str, str]:
    parts = [_sentence(rng)]
    for _ in range(rng.randint(1, 4)):
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(SPECIAL))
    return "control strings", rng.choice(["", " "]).join(parts)


def _phones(rng: random.Random) -> tuple[str, str]:
    words = _words(rng, rng.randint(1, 6)).split()
    for _ in range(rng.randint(1, 5)):
        words.insert(rng.randrange(len(words) + 1), "".join(rng.choices(PHONES, k=3)))
    return "phone tags", " ".join(words) + "."


def _numbers(rng: random.Random) -> tuple[str, str]:
    parts = []
    for _ in range(rng.randint(1, 6)):
        parts.append(rng.choice([_words(rng, rng.randint(0, 4)), rng.choice(SCRIPTS)[:8]]))
        parts.append(rng.choice(NUMBERS))
    return "numbers, dates and amounts", " ".join(parts) + rng.choice([".", "", "!"])


def _huge_number(rng: random.Random) -> tuple[str, str]:
    digits = rng.choice([67, 400, 1000, 4301, 5000])
    number = str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=digits - 1))
    return f"a number of {digits} digits", f"It costs {number} dollars."


def _surrogates(rng: random.Random) -> tuple[str, str]:
    text = list(_sentence(rng))
    for _ in range(rng.randint(1, 4)):
        text.insert(rng.randrange(len(text) + 1), chr(rng.randint(0xD800, 0xDFFF)))
    return "lone surrogates", "".join(text)


def _mixture(rng: random.Random) -> tuple[str, str]:
    makers = [m for _, m in MAKERS if m not in (_mixture, _long_text, _long_word, _huge_number)]
    parts = [rng.choice(makers)(rng)[1] for _ in range(rng.randint(2, 5))]
    sep = rng.choice([" ", "\n", "\n\n", "", "\r\n", "\t"])
    return "mixture", sep.join(parts)


def _plain(rng: random.Random) -> tuple[str, str]:
    return "plain prose", " ".join(_sentence(rng) for _ in range(rng.randint(1, 6)))


# (weight, maker)
MAKERS: list[tuple[int, Callable[[random.Random], tuple[str, str]]]] = [
    (20, _plain),
    (10, _empty),
    (16, _controls),
    (12, _ansi),
    (12, _punctuation),
    (14, _emoji),
    (18, _scripts),
    (8, _combining),
    (3, _long_word),
    (1, _long_text),
    (14, _control_strings),
    (12, _phones),
    (32, _numbers),
    (1, _huge_number),
    (8, _surrogates),
    (28, _mixture),
]


def text_case(rng: random.Random) -> tuple[str, str]:
    """(description, text) drawn from `rng` (same seed, same case)."""
    makers = [maker for _, maker in MAKERS]
    weights = [weight for weight, _ in MAKERS]
    return rng.choices(makers, weights)[0](rng)
