"""Tweet cleaning and word tokens: what the model reads instead of the raw tweet.

`clean(text)` returns the tweet's tokens joined by single spaces, so that a
whitespace split (Keras's TextVectorization with `split="whitespace"`) gives
them back. With `tweets=True` (the default), in this order:

1. HTML entities decoded (`&amp;` -> `&`, `&lt;3` -> `<3`): the files keep them;
2. URLs -> `<url>`, @mentions -> `<user>`: a name or a link says nothing of a
   mood, and every one of them would be a rare word;
3. emoticons -> `<smile>`, `<sadface>`, `<heart>` (`:)`, `:-D`, `(:`, `;p` /
   `:(`, `:'(`, `:/`, `):` / `<3`): the strongest emotion words of a tweet,
   which the punctuation step would otherwise delete;
4. lower case;
5. a letter repeated three or more times kept twice (`sooooo` -> `soo`,
   `yaaay` -> `yaay`): one word instead of a word per length;
6. word tokens: runs of letters (any alphabet: `café`, `naïve` stay whole) and
   digits, with English contractions split as
   GloVe's tokenizer splits them (`don't` -> `do n't`, `i'll` -> `i 'll`), and
   `!` / `?` kept as tokens of their own (a run of them, `!?!`, is one token: its
   first); every
   other character (`#` of a hashtag, other punctuation) separates words.
   Before it, the apostrophe's look-alikes (`’`, `´`) and what a broken
   encoding left in its place (U+FFFD, and its mis-decoded bytes `ï¿½`, which the
   course's files hold: `wasnï¿½t`) read as `'`.

With `tweets=False` only steps 4 and 6 run. `CLEANING` says the same in one line
for the report.
"""

import html
import re

import numpy as np

CLEANING = ("HTML entities decoded; URLs -> `<url>`, @mentions -> `<user>`; emoticons -> `<smile>`, "
            "`<sadface>`, `<heart>`; lower case; a letter repeated 3+ times kept twice (`sooooo` -> `soo`); "
            "word tokens of any alphabet with contractions split (`don't` -> `do n't`; `’` and a broken "
            "encoding's `ï¿½` read as `'`), `!` and `?` kept (a run counts once), other punctuation dropped")
PLAIN = ("lower case; word tokens of any alphabet with contractions split (`don't` -> `do n't`), "
         "`!` and `?` kept")

SPECIAL = ("<url>", "<user>", "<smile>", "<sadface>", "<heart>")

_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_MENTION = re.compile(r"@\w+")
# Eyes [:=;8], an optional nose or tear, a mouth; or the mirrored (: and ):.
# A letter mouth (D, P) must not run on into a word ("re:dave").
_SMILE = re.compile(r"[:=;8]-?(?:[)\]}]+|[dDpP](?![a-zA-Z]))|\(+-?[:=;]")
_SAD = re.compile(r"[:=;]'?-?[(\[{/\\|]+|\)+-?[:=](?![)\w])")
_HEART = re.compile(r"<3+")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
# Read as an apostrophe: look-alikes, and the remains of one lost to a broken encoding.
_APOSTROPHES = re.compile("\u2019|\u00b4|\ufffd|\u00ef\u00bf\u00bd")
_MARKS = re.compile(r"([!?])[!?]*")
# Letters and digits of any alphabet: [^\W_] (\w without the underscore).
_TOKENS = re.compile(r"<(?:url|user|smile|sadface|heart)>|[^\W_]+(?=n't\b)|n't\b|'(?:s|m|d|ll|re|ve)\b|"
                     r"[^\W_]+|[!?]")


def clean(text, tweets=True):
    """One text as cleaned tokens joined by spaces (see the module docstring)."""
    text = str(text)
    if tweets:
        text = html.unescape(text)
        text = _URL.sub(" <url> ", text)
        text = _MENTION.sub(" <user> ", text)
        text = _HEART.sub(" <heart> ", text)
        text = _SMILE.sub(" <smile> ", text)
        text = _SAD.sub(" <sadface> ", text)
    text = text.lower()
    if tweets:
        text = _REPEATS.sub(r"\1\1", text)
    text = _MARKS.sub(r" \1 ", _APOSTROPHES.sub("'", text))  # "!!!" and "?!?" count once
    return " ".join(_TOKENS.findall(text))


def clean_all(texts, tweets=True):
    """`clean` of every text, as a numpy array of str."""
    return np.array([clean(t, tweets) for t in texts], dtype=object)


def first_occurrences(texts):
    """Indices of the first occurrence of every distinct text, in order: the
    duplicates (retweets, copies) go, so that none sits on both sides of the
    validation split."""
    _, first = np.unique(np.asarray(texts, dtype=str), return_index=True)
    return np.sort(first)
