from __future__ import annotations

import pytest

from ledger import codes

KEY = b"k" * 32


def test_round_trip() -> None:
    code = codes.sign(KEY, codes.PAY, {"v": "abc", "n": "nonce", "exp": 1700000060})
    assert code.startswith("MB1.p.")
    assert codes.read(KEY, code) == ("p", {"v": "abc", "n": "nonce", "exp": 1700000060})
    assert codes.read(KEY, code, kind=codes.PAY)[1]["n"] == "nonce"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # signature changed
        lambda c: c.replace("MB1.", "MB2.", 1),  # unknown version
        lambda c: c.replace(".p.", ".a.", 1),  # kind swapped: the signature covers it
        lambda c: c.split(".", 2)[0] + ".p." + codes._b64(b'{"v":"x"}') + "." + c.rsplit(".", 1)[1],  # payload swapped
        lambda c: "",
        lambda c: "hello",
        lambda c: c + ".extra",
        lambda c: "MB1.p..",
        lambda c: c * 20,  # absurdly long
        lambda c: 12345,
        lambda c: None,
    ],
)
def test_tampered_codes_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    code = codes.sign(KEY, codes.PAY, {"v": "abc"})
    with pytest.raises(codes.CodeInvalid):
        codes.read(KEY, mangle(code))


def test_other_key_and_wrong_kind_are_refused() -> None:
    code = codes.sign(KEY, codes.ACTIVITY, {"a": "x", "w": 1})
    with pytest.raises(codes.CodeInvalid):
        codes.read(b"another key", code)
    with pytest.raises(codes.CodeInvalid):
        codes.read(KEY, code, kind=codes.PAY)
