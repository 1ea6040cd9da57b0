"""The browser tests' server-log check: a client that left mid-write is not a fault; any
other traceback is."""

from __future__ import annotations

from tests.ui.browser_support import server_log_faults

CLIENT_LEFT = """\
2026-12-03 12:43:14,689 WebSocket connection closed: code=None, reason=None
2026-12-03 12:43:14,689 Task exception was never retrieved
future: <Task finished name='Task-4023' coro=<WebSocketProtocol13.write_message.<locals>.wrapper() done, defined at /x/tornado/websocket.py:1138> exception=WebSocketClosedError()>
Traceback (most recent call last):
  File "/x/tornado/websocket.py", line 1140, in wrapper
    await fut
tornado.iostream.StreamClosedError: Stream is closed

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/x/tornado/websocket.py", line 1142, in wrapper
    raise WebSocketClosedError()
tornado.websocket.WebSocketClosedError
2026-12-03 12:43:15,892 WebSocket connection opened
"""  # noqa: E501 (a log line as Tornado writes it)

FAULT = """\
2026-12-03 12:43:16,001 Exception in callback
Traceback (most recent call last):
  File "/x/dashboard/web/ui/admin.py", line 1, in _preview
ValueError: boom
"""


def test_a_client_that_left_mid_write_is_not_a_fault_of_the_app():
    assert "Traceback" not in server_log_faults(CLIENT_LEFT)
    assert "WebSocket connection opened" in server_log_faults(CLIENT_LEFT)


def test_every_other_traceback_is_kept():
    assert server_log_faults(CLIENT_LEFT + FAULT).count("Traceback") == 1
    assert "ValueError: boom" in server_log_faults(FAULT + CLIENT_LEFT)
