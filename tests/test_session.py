import pickle

import pytest

from cardlens.results import CardNumber, ScanResult
from cardlens.session import ScanSession, SessionConfig

CARD_A = "4111111111111111"
CARD_B = "5555555555554444"


def frame(number: str | None = None, accepted: bool = True, found: bool = True) -> ScanResult:
    n = CardNumber.from_digits(number, 0.99) if number else None
    return ScanResult(found, n, number_accepted=bool(n) and accepted)


def feed(session, results, t0=0.0, dt=0.1):
    return [session.add_result(r, t0 + i * dt) for i, r in enumerate(results)]


def test_three_agreeing_reads_finish_the_session():
    s = ScanSession(scanner=None)
    ups = feed(s, [frame(), frame(CARD_A), frame(CARD_A, accepted=False), frame(CARD_A), frame(CARD_A)])
    assert [u.status for u in ups] == ["reading", "reading", "reading", "reading", "done"]
    assert ups[-1].final.number.reveal() == CARD_A and ups[-1].final.number_accepted
    assert ups[-1].time_to_scan_s == pytest.approx(0.4)
    assert ups[1].leader == "411111******1111" and ups[2].leader_votes == 1  # unaccepted reads do not vote
    assert "result_accepted" in ups[-1].events and "card_seen" in ups[0].events


def test_card_leaving_resets_and_never_returns_the_previous_number():
    s = ScanSession(scanner=None, config=SessionConfig(agree=3, lost_frames=2))
    feed(s, [frame(CARD_A)] * 3)
    ups = feed(s, [frame(found=False), frame(found=False), frame(CARD_B), frame(CARD_B)], t0=1.0)
    assert ups[1].reset == "card left the frame" and ups[1].final is None and ups[1].leader is None
    assert ups[-1].status == "reading" and ups[-1].leader == "555555******4444"


def test_swapped_card_in_view_resets_after_agreeing_reads():
    s = ScanSession(scanner=None, config=SessionConfig(agree=2))
    feed(s, [frame(CARD_A)] * 2)
    ups = feed(s, [frame(CARD_B), frame(CARD_B), frame(CARD_B), frame(CARD_B)], t0=1.0)
    assert ups[0].status == "done" and ups[0].final.number.reveal() == CARD_A  # one odd read is not a swap
    assert ups[1].reset == "a different card is in view"
    assert ups[-1].status == "done" and ups[-1].final.number.reveal() == CARD_B


def test_timeout_without_agreement():
    s = ScanSession(scanner=None, config=SessionConfig(agree=3, timeout_s=1.0))
    ups = feed(s, [frame(CARD_A), frame(CARD_B), frame(CARD_A, accepted=False)], dt=0.6)
    assert ups[-1].status == "timed_out" and ups[-1].final is None


def test_session_forms_mask_numbers():
    s = ScanSession(scanner=None, config=SessionConfig(agree=1))
    up = s.add_result(frame(CARD_A), 0.0)
    for text in (repr(up), str(up.to_dict()), repr(up.final), str(pickle.loads(pickle.dumps(up.final)).to_dict())):
        assert CARD_A not in text
    assert CARD_A in str(up.to_dict(reveal=True))


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        SessionConfig(agree=0)


def test_answered_session_reads_text_only_every_nth_frame():
    class Fake:
        def __init__(self):
            self.reads = []

        def scan(self, frame, color="bgr", read=True):
            self.reads.append(read)
            return frame if read else ScanResult(True)

    fake = Fake()
    s = ScanSession(fake, SessionConfig(agree=2, read_every_when_done=3))
    ups = [s.update(frame(CARD_A), now=i * 0.1) for i in range(8)]
    assert ups[1].status == "done" and all(u.status == "done" for u in ups[1:])
    assert fake.reads == [True, True, False, False, True, False, False, True]


def test_a_non_date_as_printed_stands_in_the_final_result_only_beside_no_voted_date():
    from dataclasses import replace

    from cardlens.cardrules import PrintedExpiry, parse_expiry

    printed = PrintedExpiry("88/88", 0.95)
    s = ScanSession(scanner=None, config=SessionConfig(agree=2))
    ups = feed(s, [replace(frame(CARD_A), printed_expiry=printed)] * 2)
    assert ups[-1].final.expiry is None and ups[-1].final.printed_expiry == printed
    # a date voted by an earlier frame: the last frame's non-date is not reported beside it
    s = ScanSession(scanner=None, config=SessionConfig(agree=2))
    ups = feed(s, [replace(frame(CARD_A), expiry=parse_expiry("12/30")), replace(frame(CARD_A), printed_expiry=printed)])
    assert str(ups[-1].final.expiry) == "12/30" and ups[-1].final.printed_expiry is None
