"""Turning whatever a user typed into an FTS5 query that cannot be a syntax error.

FTS5's query language gives meaning to `"`, `*`, `(`, `:`, `^`, `NEAR`, `AND`, `OR`, `NOT`. A
prompt is full of those, so nothing the user wrote is passed through: the text is cut into words
(unicode `\\w+`, the same notion of a word the `unicode61` tokenizer has), each word becomes a quoted
FTS5 string, and the strings are OR-ed, so any word can match and bm25 ranks the rest.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
# A whole pasted file as a query would OR thousands of terms together; the first distinct words
# carry the question, and the cap keeps a search on 100,000 memories in milliseconds.
MAX_TERMS = 32
# ... and only the start of a long text is read for them: a 24 MiB prompt cut into its 5 million
# words held the event loop for seconds, twice a request (issue 16, item 9).
MAX_QUERY_CHARS = 64 * 1024
# Words that occur in nearly every exchange: OR-ing them in matches almost every memory (slow, and
# noise for bm25). Dropped unless the query has nothing else.
_STOPWORD_TEXT = """a an and are as at be but by can could did do does for from had has have how i if in
is it its me my no not of on or our so that the their them then there these they this to
us was we were what when where which who why will with would you your"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def quote_term(word: str) -> str:
    """`word` as an FTS5 string literal (internal quotes doubled)."""
    return '"' + word.replace('"', '""') + '"'


def query_terms(text: str, max_terms: int = MAX_TERMS) -> list[str]:
    """The distinct lowercased words a search uses, from the first `MAX_QUERY_CHARS` of `text`:
    stopwords dropped unless nothing else is left."""
    seen: dict[str, None] = {}
    for word in _WORD.findall((text or "")[:MAX_QUERY_CHARS]):
        seen.setdefault(word.lower(), None)
    words = list(seen)
    meaningful = [w for w in words if w not in STOPWORDS]
    return (meaningful or words)[:max_terms]


def words(text: str) -> list[str]:
    """The lowercased words of `text`, as the tokenizer sees them."""
    return [w.lower() for w in _WORD.findall(text or "")]


def fts_query(text: str, max_terms: int = MAX_TERMS) -> str | None:
    """An OR of quoted words from `text`, or None when it has no words at all (blank, only symbols)."""
    chosen = query_terms(text, max_terms)
    if not chosen:
        return None
    return " OR ".join(quote_term(w) for w in chosen)
