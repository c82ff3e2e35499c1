"""listening_ports reads /proc/net/tcp{,6}: how an isolated service's readiness is seen."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runner.ports.services import listening_ports

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"


def row(index: int, address: str, port: int, state: str) -> str:
    return (f"  {index}: {address}:{port:04X} 00000000:0000 {state} 00000000:00000000 "
            "00:00000000 00000000     0        0 1 1 0 100 0 0 10 0")


def test_a_listening_port_on_ipv4_and_ipv6_is_found() -> None:
    text = "\n".join([HEADER, row(0, "00000000", 6379, "0A"),
                      row(1, "0100007F", 40000, "01"), HEADER,
                      row(0, "00000000000000000000000000000000", 5432, "0A")])
    assert listening_ports(text) == {6379, 5432}  # 40000 is an established connection


@given(st.lists(st.tuples(st.integers(0, 65535), st.sampled_from(["0A", "01", "06"]))))
def test_exactly_the_listening_rows_are_reported(rows: list[tuple[int, str]]) -> None:
    text = "\n".join([HEADER, *(row(i, "00000000", p, s) for i, (p, s) in enumerate(rows))])
    assert listening_ports(text) == {p for p, s in rows if s == "0A"}


@given(st.text(alphabet=st.sampled_from("0A: -+_fx\n0123")))
def test_any_text_gives_ports_never_an_error(text: str) -> None:
    assert all(p in range(65536) for p in listening_ports(text))
