"""Secret masking: the value and its common transforms, wherever they sit in a text."""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.secrets import MASK, mask_text, masked

secrets = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=6,
                  max_size=40)
noise = st.text(max_size=20)


@given(secrets, noise, noise)
def test_the_secret_itself_never_survives(secret: str, before: str, after: str) -> None:
    assert secret not in mask_text(before + secret + after, {secret})


@settings(max_examples=300)
@given(secrets, st.binary(max_size=8), st.binary(max_size=8))
def test_base64_of_a_text_holding_the_secret_hides_it_at_any_alignment(
        secret: str, before: bytes, after: bytes) -> None:
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(before + secret.encode() + after).decode()
        shown = mask_text(encoded, {secret})
        assert MASK in shown
        # no unmasked stretch, decoded at any alignment, gives the secret back
        altchars = b"-_" if encode is base64.urlsafe_b64encode else None
        for stretch in shown.split(MASK):
            for start in range(4):
                chunk = stretch[start:]
                try:
                    decoded = base64.b64decode(chunk[: len(chunk) // 4 * 4], altchars=altchars)
                except binascii.Error:
                    continue
                assert secret.encode() not in decoded


@given(secrets)
def test_url_and_json_forms_are_masked(secret: str) -> None:
    for form in (urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
                 json.dumps(secret)[1:-1]):
        assert MASK in mask_text(f"x={form}&y", {secret})


def test_each_line_of_a_multi_line_secret_is_masked() -> None:
    key = "-----BEGIN-----\nQUJDREVGR0hJSktM\nTU5PUFFSU1RVVldY\n-----END-----"
    shown = mask_text("line 2 is QUJDREVGR0hJSktM and then TU5PUFFSU1RVVldY", {key})
    assert "QUJDREVGR0hJSktM" not in shown and "TU5PUFFSU1RVVldY" not in shown


def test_values_keep_their_shape() -> None:
    value = {"token": "abc-secret-1", "items": ["abc-secret-1", 3, None, True], "n": 1.5}
    assert masked(value, {"abc-secret-1"}) == {"token": MASK, "items": [MASK, 3, None, True],
                                               "n": 1.5}
    assert masked(value, set()) is value


def test_short_lines_and_edges_are_not_masked_everywhere() -> None:
    # a secret's one-letter line would otherwise mask every 'a' in every log
    assert mask_text("a cat", {"abcdefgh\na"}) == "a cat"
