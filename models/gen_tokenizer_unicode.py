"""Generates models/tokenizer_unicode.c, the Unicode tables of SERC's tokenizers (models/tokenizer.c).

Run from the repository root with the Hugging Face virtual environment:

    /opt/serc-hf-venv/bin/python models/gen_tokenizer_unicode.py

Why the tables are probed, not read from unicodedata: the target is token ids identical to Hugging Face's
fast tokenizers, and the `tokenizers` library does not use one Unicode version. BertNormalizer and
BertPreTokenizer take their categories from the `unicode_categories` crate (an old Unicode: U+2E50, a Po
of Unicode 13, is not punctuation there; 11 Cf characters of Unicode 14 are not "control"), accents are
stripped with the `unicode-normalization-alignments` crate, lowercase is Rust's char::to_lowercase, and
the GPT-2 regex runs on Oniguruma's \\p{L}, \\p{N} and \\s. So every property is measured by running the
installed `tokenizers` on every code point (U+0000..U+10FFFF, surrogates excepted, which valid UTF-8
cannot hold), in chunks joined by a separator that the probed step leaves alone. The script then prints,
and writes into the generated file's header, how each property differs from Python's unicodedata.

Coverage: every code point, all planes (not only Latin/Greek/Cyrillic): the accent table holds every
character whose canonical decomposition minus nonspacing marks (Mn) differs from itself (Latin, Greek,
Cyrillic, Hebrew and Arabic presentation forms, Indic nuktas, CJK compatibility ideographs, ...; Hangul
syllables are decomposed by rule in C, checked here against the probe), the lowercase table every character that Rust lowercases.

Flags per code point (run-length encoded):
  CLEAN_REMOVE  BertNormalizer(clean_text) deletes it (NUL, U+FFFD, the crate's Cc/Cf/Co/Cs except \\t\\n\\r)
  BERT_SPACE    BertPreTokenizer splits on it (char::is_whitespace); clean_text maps it to ' ' unless removed
  BERT_PUNCT    BertPreTokenizer isolates it (ASCII punctuation or the crate's P*)
  CJK           BertNormalizer(handle_chinese_chars) surrounds it with spaces
  LETTER        Oniguruma \\p{L}
  NUMBER        Oniguruma \\p{N}
  SPACE         Oniguruma \\s
  ACCENT_DROP   BertNormalizer(strip_accents) deletes it (a nonspacing mark, Mn)
"""
import os
import sys
import unicodedata

import tokenizers
from tokenizers import Regex, normalizers, pre_tokenizers

CHUNK = 8192
CODEPOINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]

F_CLEAN_REMOVE, F_BERT_SPACE, F_BERT_PUNCT, F_CJK = 1, 2, 4, 8
F_LETTER, F_NUMBER, F_SPACE, F_ACCENT_DROP = 16, 32, 64, 128


def chunks(cps):
    for i in range(0, len(cps), CHUNK):
        yield cps[i:i + CHUNK]


def normalize_each(norm, sep):
    """Output of `norm` on each code point alone (sep itself is not probed)."""
    out = {}
    cps = [c for c in CODEPOINTS if chr(c) != sep]
    for ch in chunks(cps):
        pieces = norm.normalize_str(sep.join(chr(c) for c in ch)).split(sep)
        assert len(pieces) == len(ch), "separator touched by the normalizer"
        out.update(zip(ch, pieces))
    return out


def regex_set(pattern):
    """Code points matched by the one-character Oniguruma pattern."""
    split = pre_tokenizers.Split(Regex(pattern), behavior="removed")
    matched = set()
    for ch in chunks(CODEPOINTS):
        covered = bytearray(len(ch))
        for _, (a, b) in split.pre_tokenize_str("".join(chr(c) for c in ch)):
            covered[a:b] = b"\1" * (b - a)
        matched.update(c for c, k in zip(ch, covered) if not k)
    return matched


def bert_pretok_sets():
    """(whitespace, punctuation) of BertPreTokenizer, with 'a' between probed characters: whitespace is
    what no piece covers, punctuation what comes out as a one-character piece."""
    pre = pre_tokenizers.BertPreTokenizer()
    ws, punct = set(), set()
    cps = [c for c in CODEPOINTS if c != ord("a")]
    for ch in chunks(cps):
        s = "a".join(chr(c) for c in ch)
        # position of each probed character in s
        pos = {2 * i: c for i, c in enumerate(ch)}
        covered = bytearray(len(s))
        for piece, (a, b) in pre.pre_tokenize_str(s):
            covered[a:b] = b"\1" * (b - a)
            if b - a == 1 and a in pos:
                punct.add(pos[a])
        ws.update(c for i, c in pos.items() if not covered[i])
    return ws, punct


def hangul_nfd(c):
    """The Unicode algorithm for a precomposed Hangul syllable (chapter 3.12)."""
    i = c - 0xAC00
    out = [0x1100 + i // 588, 0x1161 + (i % 588) // 28]
    if i % 28:
        out.append(0x11A7 + i % 28)
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    flags = dict.fromkeys(CODEPOINTS, 0)

    clean = normalize_each(normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                                      strip_accents=False, lowercase=False), "a")
    bert_ws, bert_punct = bert_pretok_sets()
    for c, o in clean.items():
        if o == "":
            flags[c] |= F_CLEAN_REMOVE
        elif o == " " and c != 0x20:
            assert c in bert_ws, hex(c)
    for c in bert_ws:
        flags[c] |= F_BERT_SPACE
    for c in bert_punct:
        flags[c] |= F_BERT_PUNCT

    cjk = normalize_each(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True,
                                                    strip_accents=False, lowercase=False), "a")
    for c, o in cjk.items():
        if o == " " + chr(c) + " ":
            flags[c] |= F_CJK
        else:
            assert o == chr(c), hex(c)

    for pattern, f in ((r"\p{L}", F_LETTER), (r"\p{N}", F_NUMBER), (r"\s", F_SPACE)):
        for c in regex_set(pattern):
            flags[c] |= f

    strip = normalize_each(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                                      strip_accents=True, lowercase=False), "\x01")
    accent_map = {}
    for c, o in strip.items():
        if o == "":
            flags[c] |= F_ACCENT_DROP
        elif 0xAC00 <= c <= 0xD7A3:
            assert [ord(x) for x in o] == hangul_nfd(c), hex(c)  # decomposed by rule in C
        elif o != chr(c):
            accent_map[c] = [ord(x) for x in o]

    lower = normalize_each(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                                      strip_accents=False, lowercase=True), "\x01")
    lower_map = {c: [ord(x) for x in o] for c, o in lower.items() if o != chr(c)}

    # ---- differences from unicodedata, for the record ----
    def cat(c):
        return unicodedata.category(chr(c))

    def diff(name, probed, reference):
        extra, missing = sorted(probed - reference), sorted(reference - probed)
        show = lambda xs: " ".join("U+%04X" % c for c in xs[:8]) + (" ..." if len(xs) > 8 else "")
        return "%-12s probed %6d, unicodedata %6d; only probed %d (%s); only unicodedata %d (%s)" % (
            name, len(probed), len(reference), len(extra), show(extra), len(missing), show(missing))

    sets = lambda f: {c for c, v in flags.items() if v & f}
    report = [
        diff("clean", sets(F_CLEAN_REMOVE),
             {c for c in CODEPOINTS if (cat(c) in ("Cc", "Cf", "Co", "Cs") and c not in (9, 10, 13))
              or c in (0, 0xFFFD)}),
        diff("punct", sets(F_BERT_PUNCT),
             {c for c in CODEPOINTS if cat(c).startswith("P") or (c < 128 and chr(c) in
                                                                 "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")}),
        diff("letter", sets(F_LETTER), {c for c in CODEPOINTS if cat(c).startswith("L")}),
        diff("number", sets(F_NUMBER), {c for c in CODEPOINTS if cat(c).startswith("N")}),
        diff("accent-drop", sets(F_ACCENT_DROP), {c for c in CODEPOINTS if cat(c) == "Mn"}),
    ]
    nfd_ref = {}
    for c in CODEPOINTS:
        if 0xAC00 <= c <= 0xD7A3:
            continue
        o = "".join(x for x in unicodedata.normalize("NFD", chr(c)) if cat(ord(x)) != "Mn")
        if o != chr(c) and o != "":
            nfd_ref[c] = [ord(x) for x in o]
    report.append("accent-map   probed %d entries (Hangul apart), unicodedata NFD minus Mn %d, differing %d" % (
        len(accent_map), len(nfd_ref),
        len({c for c in set(accent_map) | set(nfd_ref) if accent_map.get(c) != nfd_ref.get(c)})))
    lower_ref = {c: [ord(x) for x in chr(c).lower()] for c in CODEPOINTS if chr(c).lower() != chr(c)}
    report.append("lowercase    probed %d entries, str.lower %d, differing %d" % (
        len(lower_map), len(lower_ref),
        len({c for c in set(lower_map) | set(lower_ref) if lower_map.get(c) != lower_ref.get(c)})))
    for line in report:
        print(line, file=sys.stderr)

    # ---- write ----
    runs = []
    prev = None
    for c in range(0x110000):
        v = flags.get(c, 0)  # surrogates: no flag
        if v != prev:
            runs.append((c, v))
            prev = v
    max_accent = max(len(v) for v in accent_map.values())
    max_lower = max(len(v) for v in lower_map.values())
    assert max_accent <= 3 and max_lower <= 3

    out = []
    w = out.append
    w("/* GENERATED by models/gen_tokenizer_unicode.py with tokenizers %s (Python unicodedata %s): do not"
      % (tokenizers.__version__, unicodedata.unidata_version))
    w(" * edit. Properties probed from the tokenizers library on every code point; differences from")
    w(" * unicodedata:")
    for line in report:
        w(" *   " + line)
    w(" */")
    w('#include "tokenizer_unicode_internal.h"')
    w("")
    w("#include <stddef.h>")
    w("")
    w("/* Run starts and the flags of the run (%d runs over U+0000..U+10FFFF). */" % len(runs))
    w("static const struct { uint32_t start; uint8_t flags; } UCP_RUNS[%d] = {" % len(runs))
    for i in range(0, len(runs), 8):
        w("    " + " ".join("{0x%X,0x%X}," % r for r in runs[i:i + 8]))
    w("};")
    w("")
    for name, table in (("ACCENT", accent_map), ("LOWER", lower_map)):
        w("static const struct { uint32_t cp; uint32_t out[3]; } UCP_%s[%d] = {" % (name, len(table)))
        items = sorted(table.items())
        for i in range(0, len(items), 5):
            w("    " + " ".join("{0x%X, {%s}}," % (c, ",".join("0x%X" % x for x in v))
                                for c, v in items[i:i + 5]))
        w("};")
        w("")
    w("""unsigned ucp_flags(uint32_t cp) {
    if (cp > 0x10FFFF) return 0;
    size_t lo = 0, hi = sizeof UCP_RUNS / sizeof UCP_RUNS[0];
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (UCP_RUNS[mid].start <= cp) lo = mid;
        else hi = mid;
    }
    return UCP_RUNS[lo].flags;
}

#define UCP_LOOKUP(table, cp, out)                                         \\
    do {                                                                   \\
        size_t lo_ = 0, hi_ = sizeof table / sizeof table[0];              \\
        while (lo_ < hi_) {                                                \\
            size_t mid_ = (lo_ + hi_) / 2;                                 \\
            if (table[mid_].cp < cp) lo_ = mid_ + 1;                       \\
            else hi_ = mid_;                                               \\
        }                                                                  \\
        if (lo_ < sizeof table / sizeof table[0] && table[lo_].cp == cp) { \\
            int n_ = 0;                                                    \\
            while (n_ < 3 && table[lo_].out[n_]) {                         \\
                out[n_] = table[lo_].out[n_];                              \\
                n_++;                                                      \\
            }                                                              \\
            return n_;                                                     \\
        }                                                                  \\
    } while (0)

int ucp_strip_accents(uint32_t cp, uint32_t out[3]) {
    if (ucp_flags(cp) & UCP_ACCENT_DROP) return 0;
    if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable: L V (T), Unicode chapter 3.12 */
        uint32_t i = cp - 0xAC00;
        out[0] = 0x1100 + i / 588;
        out[1] = 0x1161 + (i % 588) / 28;
        if (i % 28 == 0) return 2;
        out[2] = 0x11A7 + i % 28;
        return 3;
    }
    UCP_LOOKUP(UCP_ACCENT, cp, out);
    out[0] = cp;
    return 1;
}

int ucp_lowercase(uint32_t cp, uint32_t out[3]) {
    UCP_LOOKUP(UCP_LOWER, cp, out);
    out[0] = cp;
    return 1;
}""")
    with open(os.path.join(root, "models", "tokenizer_unicode.c"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print("wrote models/tokenizer_unicode.c: %d runs, %d accent entries, %d lowercase entries" % (
        len(runs), len(accent_map), len(lower_map)), file=sys.stderr)


if __name__ == "__main__":
    main()
