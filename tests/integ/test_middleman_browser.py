"""The middleman's page in a real browser: headless Chromium (Debian's
`chromium`), driven over the DevTools protocol with python3-websockets,
shows a task appear and reach `done` as notifications flow."""

import asyncio
import json
import os
import shutil
import signal
import time
import urllib.request

import websockets

from harness import fresh_dir, free_port, http, start_program, timeout, wait_for
from test_middleman import note, publish_notes, start

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    """A headless Chromium and one page, through the DevTools protocol."""

    def __init__(self):
        assert os.path.exists(CHROMIUM), "chromium is not installed (port/deps.sh test)"
        self.port = free_port()
        self.proc = start_program(CHROMIUM, [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--no-default-browser-check",
            "--user-data-dir=" + fresh_dir("chromium"),
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=%d" % self.port, "about:blank"])
        self.page_ws = wait_for(self._page_target, 30, "chromium's DevTools endpoint")
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

        async def connect():
            return await websockets.connect(self.page_ws, max_size=None,
                                            ping_interval=None)
        self.ws = self.loop.run_until_complete(connect())
        self.next_id = 0

    def _page_target(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port,
                                        timeout=2) as r:
                targets = json.load(r)
        except OSError:
            if not self.proc.alive():
                raise AssertionError("chromium exited:\n" + self.proc.log_text()[-2000:])
            return None
        pages = [t for t in targets if t.get("type") == "page"]
        return pages[0]["webSocketDebuggerUrl"] if pages else None

    def call(self, method, **params):
        async def go():
            self.next_id += 1
            mid = self.next_id
            await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
            while True:
                msg = json.loads(await asyncio.wait_for(self.ws.recv(), 20))
                if msg.get("id") == mid:
                    assert "error" not in msg, msg
                    return msg.get("result")
        return self.loop.run_until_complete(go())

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.loop.run_until_complete(self.ws.close())
        except Exception:
            pass
        self.loop.close()
        asyncio.set_event_loop(None)
        try:
            self.proc.wait(10)
        except AssertionError:
            pass
        try:  # helpers (renderer, zygote) share its process group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass


def task_view(b, tid):
    """The task's card as the page shows it, or None."""
    return b.eval("""(function () {
        var d = document.querySelector('[data-id="%s"]');
        if (!d) return null;
        return {state: d.getAttribute('data-state'),
                name: d.querySelector('.name').textContent,
                url: d.querySelector('.url').textContent,
                bar: d.querySelector('.bar div').style.width,
                info: d.querySelector('.info').textContent,
                html: d.querySelector('.name').innerHTML};
    })()""" % tid)


def wait_view(b, tid, pred, what):
    return wait_for(lambda: (lambda v: v if v and pred(v) else None)(task_view(b, tid)),
                    15, what, interval=0.1)


@timeout(180)
def test_page_in_chromium():
    mm = start("--interval", "1", "--token", "pagetok")
    b = Browser()
    try:
        b.call("Page.enable")
        b.call("Page.navigate", url="http://127.0.0.1:%d/?token=pagetok" % mm.port)
        # the page took the token from its URL and opened /ws with it
        wait_for(lambda: b.eval("document.getElementById('conn') && "
                                "document.getElementById('conn').textContent") == "live",
                 15, "the page's WebSocket to open")
        assert "ws" in mm.log_text() and ": open (" in mm.log_text()
        assert task_view(b, "b1") is None
        now = int(time.time() * 1000)
        name = "page <b>test</b> \u00e9t\u00e9"
        url = "http://127.0.0.1/files/big.iso"
        publish_notes([note("b1", "queued", name=name, arg=url, time=now)])
        v = wait_view(b, "b1", lambda v: v["state"] == "queued", "the task to appear")
        assert v["name"] == name and "<b>" not in v["html"], v  # shown as text
        assert v["url"] == url
        publish_notes([note("b1", "started", name=name, arg=url, worker="h:1",
                            bytes=0, total=4 * 1048576, time=now + 100)])
        wait_view(b, "b1", lambda v: v["state"] == "started", "started")
        publish_notes([note("b1", "progress", name=name, arg=url, worker="h:1",
                            bytes=1048576, total=4 * 1048576, time=now + 1100)])
        v = wait_view(b, "b1", lambda v: v["state"] == "progress", "progress")
        assert v["bar"] == "25%", v
        assert "1.0 MiB of 4.0 MiB" in v["info"] and "/s" in v["info"], v
        publish_notes([note("b1", "done", name=name, arg=url, worker="h:1",
                            bytes=4 * 1048576, total=4 * 1048576, time=now + 2100,
                            file="/srv/dl/big.iso", sha256="0" * 64)])
        v = wait_view(b, "b1", lambda v: v["state"] == "done", "the task to reach done")
        assert v["bar"] == "100%" and "/srv/dl/big.iso" in v["info"], v
        # a second task, failed, appears above the first
        publish_notes([note("b2", "failed", error="404 Not Found")])
        v = wait_view(b, "b2", lambda v: v["state"] == "failed", "a failed task")
        assert "404 Not Found" in v["info"]
        order = b.eval("Array.prototype.map.call(document.querySelectorAll('.task'),"
                       " function (d) { return d.getAttribute('data-id'); })")
        assert order == ["b2", "b1"], order
        # the page is for phones too
        assert b.eval("document.querySelector('meta[name=viewport]') !== null")
    finally:
        b.close()
    mm.stop()


@timeout(120)
def test_page_shows_stored_tasks_on_open():
    """A page opened after the notifications were stored shows them (the
    history replayed on open), the latest state of each task. Chromium's
    --dump-dom with a virtual time budget raced the WebSocket and was
    dropped for this."""
    mm = start("--interval", "0")
    publish_notes([note("d1", "queued"), note("d1", "done", bytes=10, total=10),
                   note("d2", "failed", error="gone")])
    wait_for(lambda: b'"failed"' in http("GET", mm.port, "/tasks/d2")[2], 10, "stored")
    b = Browser()
    try:
        b.call("Page.enable")
        b.call("Page.navigate", url="http://127.0.0.1:%d/" % mm.port)
        v = wait_view(b, "d1", lambda v: v["state"] == "done", "d1 shown done")
        assert v["bar"] == "100%", v
        v = wait_view(b, "d2", lambda v: v["state"] == "failed", "d2 shown failed")
        assert "gone" in v["info"], v
    finally:
        b.close()
    mm.stop()


@timeout(120)
def test_page_odd_ids_and_state_order():
    """Ids such as __proto__ or constructor are tasks like any other (the
    page keeps them in a Map), and a late queued after a done does not
    take the task back on the page (its state only moves forward)."""
    mm = start("--interval", "0")
    b = Browser()
    try:
        b.call("Page.enable")
        b.call("Page.navigate", url="http://127.0.0.1:%d/" % mm.port)
        wait_for(lambda: b.eval("document.getElementById('conn') && "
                                "document.getElementById('conn').textContent") == "live",
                 15, "the page's WebSocket to open")
        publish_notes([note("__proto__", "queued"), note("constructor", "started"),
                       note("late", "done", bytes=1, total=1), note("late", "queued"),
                       note("hasOwnProperty", "failed", error="x"),
                       note("__proto__", "done", bytes=1, total=1)])
        wait_view(b, "__proto__", lambda v: v["state"] == "done", "__proto__ done")
        wait_view(b, "constructor", lambda v: v["state"] == "started", "constructor")
        wait_view(b, "hasOwnProperty", lambda v: v["state"] == "failed", "hasOwnProperty")
        v = task_view(b, "late")
        assert v and v["state"] == "done", v
        assert b.eval("document.querySelectorAll('.task').length") == 4
        # the page still follows new notifications
        publish_notes([note("after", "queued")])
        wait_view(b, "after", lambda v: v["state"] == "queued", "a later task")
    finally:
        b.close()
    mm.stop()
