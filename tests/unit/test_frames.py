from chalicelib import frames
from chalicelib.notifier import encode
from chalicelib.shapes import Message


def message(index: int, size: int) -> Message:
    return Message(id=f"{index:026d}", room="r", sender="s", text="x" * size, ts="2026-01-02T03:04:05.678Z",
                   client_id=None)


def test_small_pages_are_kept_whole():
    page = [message(i, 10) for i in range(5)]
    assert frames.fit_messages(page, False, keep_newest=True) == (page, False)


def test_pages_over_the_post_limit_keep_the_right_end_and_say_more():
    page = [message(i, 4000) for i in range(60)]
    newest, more = frames.fit_messages(page, False, keep_newest=True)
    assert more and newest == page[-len(newest):]
    oldest, more = frames.fit_messages(page, False, keep_newest=False)
    assert more and oldest == page[:len(oldest)]
    for kept in (newest, oldest):
        assert len(encode(frames.history("r", kept, True))) <= frames.MAX_FRAME_BYTES
