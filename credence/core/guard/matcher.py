"""Finding a prohibited term in one text, in its context.

A hit is where a lexicon entry matches; whether it refuses the text depends
on how strong the entry is and where it stands. Strong terms refuse
wherever they are, unless an ordinary collocation covers them ("bad
faith"). Weak terms ("family", "union") refuse unless the item concerns
organisations only and the text names no person. Sector terms ("medical",
"drug", 医疗) refuse unless they also sit in a law, agency or trade frame
("Drug Administration Law", "medical device"). In a health category an
organisation-only item may cite its sector's law or institution even with
a strong term ("penalties on psychiatric hospitals"): that is the
organisation's conduct, not a person's health.
"""

from __future__ import annotations

from dataclasses import dataclass

from credence.core.guard.lexicon import Entry, Lexicon, Strength, Term
from credence.core.guard.normalise import STOPWORDS, Token, join_cjk, lemmas, tokenise, words
from credence.core.guard.pinyin import is_pinyin

_WINDOW = 4  # content words either side in which a frame counts
_CJK_WINDOW = 8  # characters either side


@dataclass(frozen=True, slots=True)
class Hit:
    """A matched term: category, the text to show, strength and where it stands."""

    category: str
    term: str
    strength: Strength
    first: int  # content-token positions (or character offsets for Chinese)
    last: int


@dataclass(frozen=True, slots=True)
class Context:
    """What the guard knows about the item a text belongs to."""

    organisations_only: bool = False


def may_hit(lex: Lexicon, folded: str) -> bool:
    """Whether a Scan of `folded` can find any hit; False only where it would find none.

    Each test is a necessary condition of one kind of hit, so a text that
    fails all three is refused by no context, and the guard need not build
    a Scan for it (most texts ingest sees: 45 us a company name spared).
    An English hit starts at a content word that a lexicon entry's first word
    matches, or is a compound of one word (both only a word's own matter, so
    cached by form); a pinyin hit is a term inside the content words joined
    (each window Scan searches is a piece of them); a Chinese hit is a term
    in the text with its CJK separators dropped.
    """
    content = [w for w in words(folded) if w not in STOPWORDS]
    known = lex.quiet_words
    if not all(known.get(w) for w in content) and not all(_starts_nothing(lex, w) for w in content):
        return True
    if content and lex.pinyin_any().search("".join(content)):
        return True
    return lex.cjk_pattern.search(join_cjk(folded)) is not None


def _starts_nothing(lex: Lexicon, form: str) -> bool:
    """No entry's first word matches the word `form`, and it is no compound of a term."""
    cache = lex.quiet_words
    found = cache.get(form)
    if found is None:
        token = Token(form, lemmas(form), 0, 0, len(form))
        found = not any(entry.words[0].matches(token) for entry in lex.candidates(token))
        found = found and (len(form) < 6 or compound(lex, form) is None)
        if len(cache) < 100_000:
            cache[form] = found
    return found


def compound(lex: Lexicon, form: str) -> Entry | None:
    """A term joined to a field word in one identifier: "hivstatus", "isgay"."""
    whole = lex.joined.get(form)
    if whole is not None:
        return whole
    for k in range(2, len(form) - 1):
        head, tail = form[:k], form[k:]
        if tail in lex.field_words and len(head) >= 3:
            entry = lex.single(head)
            if entry is not None:
                return entry
        if head in lex.head_words and len(tail) >= 3:
            entry = lex.single(tail)
            if entry is not None:
                return entry
    return None


class Scan:
    """One folded text variant, tokenised once and searched for every kind of term."""

    def __init__(self, lex: Lexicon, folded: str) -> None:
        self.lex = lex
        self.text = join_cjk(folded)
        self.tokens = tokenise(folded)
        self.content = [t for t in self.tokens if t.form not in STOPWORDS]
        self.allowed = self._allowed()
        self.names_person = any(t.lemmas & lex.persons for t in self.tokens) or bool(
            lex.persons_zh.search(self.text)
        )

    def refusal(self, ctx: Context) -> Hit | None:
        """The first hit that refuses this text in `ctx`, or None."""
        for hit in self._latin_hits():
            if not self._covered(hit) and self._refuses(hit, ctx, self._framed(hit)):
                return hit
        for hit in self._pinyin_hits():
            if not self._covered(hit) and self._refuses(hit, ctx, self._framed(hit)):
                return hit
        for hit in self._cjk_hits():
            if self._refuses(hit, ctx, self._cjk_framed(hit)):
                return hit
        return None

    def _refuses(self, hit: Hit, ctx: Context, framed: bool) -> bool:
        org_only = ctx.organisations_only and not self.names_person
        if hit.strength is Strength.STRONG:
            return not (org_only and framed and hit.category in self.lex.organisation_law)
        if org_only:
            return False
        return not (hit.strength is Strength.SECTOR and framed)

    # --- English ------------------------------------------------------------------------

    def _phrase_at(self, i: int, words: tuple[object, ...]) -> bool:
        if i + len(words) > len(self.content):
            return False
        return all(w.matches(self.content[i + k]) for k, w in enumerate(words))  # type: ignore[attr-defined]

    def _allowed(self) -> set[int]:
        covered: set[int] = set()
        for i, token in enumerate(self.content):
            for phrase in self.lex.allow_candidates(token):
                if self._phrase_at(i, phrase):
                    covered.update(range(i, i + len(phrase)))
        return covered

    def _covered(self, hit: Hit) -> bool:
        return all(k in self.allowed for k in range(hit.first, hit.last + 1))

    def _latin_hits(self) -> list[Hit]:
        hits: list[Hit] = []
        for i, token in enumerate(self.content):
            found = False
            for entry in self.lex.candidates(token):
                if self._phrase_at(i, entry.words):
                    hits.append(self._hit(entry, i, i + len(entry.words) - 1))
                    found = True
            compound = self._compound(token) if not found and len(token.form) >= 6 else None
            if compound is not None:
                hits.append(self._hit(compound, i, i))
        hits.sort(key=lambda h: h.strength is not Strength.STRONG)
        return hits

    def _hit(self, entry: Entry, first: int, last: int) -> Hit:
        shown = " ".join(t.form for t in self.content[first : last + 1])
        return Hit(entry.category, shown, entry.strength, first, last)

    def _compound(self, token: Token) -> Entry | None:
        return compound(self.lex, token.form)

    def _framed(self, hit: Hit) -> bool:
        lo, hi = max(0, hit.first - _WINDOW), min(len(self.content), hit.last + _WINDOW + 1)
        near = [t for k, t in enumerate(self.content[lo:hi], lo) if not hit.first <= k <= hit.last]
        return any(t.lemmas & self.lex.frames for t in near)

    # --- pinyin and Chinese -----------------------------------------------------------------

    def _pinyin_hits(self) -> list[Hit]:
        """Pinyin terms in the joined letters of neighbouring words, at syllable edges."""
        hits: list[Hit] = []
        tokens = self.content
        for i in range(len(tokens)):
            joined = ""
            ends: list[int] = []
            for token in tokens[i : i + 4]:
                joined += token.form
                ends.append(len(joined))
            first_len = ends[0]
            if not self.lex.pinyin_any().search(joined):
                continue  # no term anywhere in these words: every find below would miss
            for term in self.lex.pinyin:
                at = joined.find(term.text)
                if at < 0 or at >= first_len or not is_pinyin(joined[:at]):
                    continue
                stop = at + len(term.text)
                end = next(e for e in ends if e >= stop)
                if is_pinyin(joined[stop:end]) or joined[stop:end] in self.lex.field_words:
                    last = i + ends.index(end)
                    hits.append(Hit(term.category, term.text, term.strength, i, last))
        return hits

    def _cjk_hits(self) -> list[Hit]:
        allowed = [m.span() for m in self.lex.cjk_allow.finditer(self.text)]
        by_text = self.lex.cjk_by_text()
        hits: list[Hit] = []
        for m in self.lex.cjk_pattern.finditer(self.text):
            if any(a <= m.start() and m.end() <= b for a, b in allowed):
                continue
            term: Term = by_text[m.group(0)]
            hits.append(Hit(term.category, term.text, term.strength, m.start(), m.end()))
        hits.sort(key=lambda h: h.strength is not Strength.STRONG)
        return hits

    def _cjk_framed(self, hit: Hit) -> bool:
        before = self.text[max(0, hit.first - _CJK_WINDOW) : hit.first]
        after = self.text[hit.last : hit.last + _CJK_WINDOW]
        return bool(self.lex.frames_zh.search(before) or self.lex.frames_zh.search(after))
