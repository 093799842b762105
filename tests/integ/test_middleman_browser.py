"""The middleman's page in a real browser: headless Chromium (Debian's
`chromium`), driven over the DevTools protocol with python3-websockets,
shows a task appear and reach `done` as notifications flow."""

import asyncio
import gzip
import json
import os
import shutil
import signal
import time
import urllib.request

import websockets

from harness import (ENV, fresh_dir, free_port, http, purge, run_program, start_program,
                     start_tasker, start_worker, timeout, wait_for)
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


BROWSER = None


def setup_module():
    """One Chromium for the module's tests (starting and stopping one takes
    ~9 s on a loaded machine); each test navigates it to its own page."""
    global BROWSER
    BROWSER = Browser()
    BROWSER.call("Page.enable")


def teardown_module():
    BROWSER.close()


def browser():
    """The module's Chromium, on a blank page of the usual size."""
    b = BROWSER
    b.call("Page.navigate", url="about:blank")
    b.call("Emulation.setDeviceMetricsOverride", width=800, height=900,
           deviceScaleFactor=1, mobile=False)
    return b


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


def wait_view(b, tid, pred, what, t=15):
    return wait_for(lambda: (lambda v: v if v and pred(v) else None)(task_view(b, tid)),
                    t, what, interval=0.1)


@timeout(180)
def test_page_in_chromium():
    mm = start("--interval", "1", "--token", "pagetok")
    b = browser()
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
    b = browser()
    b.call("Page.navigate", url="http://127.0.0.1:%d/" % mm.port)
    v = wait_view(b, "d1", lambda v: v["state"] == "done", "d1 shown done")
    assert v["bar"] == "100%", v
    v = wait_view(b, "d2", lambda v: v["state"] == "failed", "d2 shown failed")
    assert "gone" in v["info"], v
    mm.stop()


@timeout(120)
def test_page_odd_ids_and_state_order():
    """Ids such as __proto__ or constructor are tasks like any other (the
    page keeps them in a Map), and a late queued after a done does not
    take the task back on the page (its state only moves forward)."""
    mm = start("--interval", "0")
    b = browser()
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
    mm.stop()


def page_html(mm, token=None):
    st, h, body = http("GET", mm.port, "/" + ("?token=" + token if token else ""),
                       headers={"Accept-Encoding": "gzip"})
    assert st == 200 and h["content-encoding"] == "gzip", (st, h)
    return gzip.decompress(body).decode()


@timeout(60)
def test_tasker_url_option():
    """--tasker-url / WARREN_TASKER_URL is written into the page (escaped);
    a bad value is one line on stderr and exit 2, nothing started."""
    for bad, why in [("ftp://h:8080", "http:// or https://"), ("", "empty"),
                     ("http://", "host"), ("http://h:99999", "port"),
                     ("http://u:pw@h:8080", "user or password"),
                     ("http://h:8080/?x=1", "query or fragment"),
                     ("http://h:8080/#top", "query or fragment"),
                     ("http://h:8080/a b", "")]:
        for args, env in [(["--tasker-url", bad], None), ([], {"WARREN_TASKER_URL": bad})]:
            r = run_program("middleman", ["--listen", "127.0.0.1:1"] + args, env=env,
                            timeout=10)
            err = r.stderr.decode()
            assert r.returncode == 2, (bad, r.returncode, err)
            assert err.count("\n") == 1 and "--tasker-url" in err and why in err, (bad, err)
    # the default: an empty tag, the page then takes its own host, port 8080
    mm = start("--interval", "0")
    assert '<meta name="tasker" content="">' in page_html(mm)
    mm.stop()
    # a path prefix is allowed; the characters that matter in HTML are escaped
    mm = start("--interval", "0", "--tasker-url", "https://T.example:8443/api/x'y\"<z>&/",
               "--token", "tk")
    html = page_html(mm, "tk")
    assert ('<meta name="tasker" content="https://T.example:8443/api/'
            'x&#39;y&quot;&lt;z&gt;&amp;/">') in html, html[:400]
    mm.stop()
    mm = start("--interval", "0", env={"WARREN_TASKER_URL": "http://10.0.0.1:8080"})
    assert '<meta name="tasker" content="http://10.0.0.1:8080">' in page_html(mm)
    mm.stop()


def counts(b):
    """The numbers at the top of the page: {"": all, "queued": n, ...}."""
    return b.eval("""(function () { var r = {};
        document.querySelectorAll('#counts button').forEach(function (e) {
            r[e.getAttribute('data-status')] = +e.querySelector('b').textContent; });
        return r; })()""")


def rows(b):
    """The ids of the task rows in the document, top to bottom."""
    return b.eval("Array.prototype.map.call(document.querySelectorAll('.task'),"
                  " function (d) { return d.getAttribute('data-id'); })")


@timeout(240)
def test_page_10000_tasks():
    """10,000 stored tasks: the page counts them all, keeps only the rows
    in its window in the document, scrolls to the oldest, filters by status
    and still follows new notifications."""
    n = 10000
    mm = start("--interval", "0")
    statuses = ["queued", "progress", "done", "failed"]
    now = int(time.time() * 1000)
    notes = []
    for i in range(n):
        s = statuses[i % 4]
        kw = {"bytes": 512, "total": 1024, "worker": "h:1"} if s != "queued" else {}
        if s == "failed":
            kw["error"] = "e%d" % i
        notes.append(note("k%05d" % i, s, time=now + i, **kw))
    publish_notes(notes)
    wait_for(lambda: b'"k09999"' in http("GET", mm.port, "/tasks/k09999")[2], 60,
             "the 10,000 tasks stored")
    b = browser()
    t0 = time.monotonic()
    b.call("Page.navigate", url="http://127.0.0.1:%d/" % mm.port)
    wait_for(lambda: (counts(b) or {}).get("") == n, 60, "10,000 tasks counted",
             interval=0.2)
    print("10,000 tasks shown %.2f s after navigating" % (time.monotonic() - t0))
    c = counts(b)
    assert c == {"": n, "queued": n // 4, "started": 0, "progress": n // 4,
                 "paused": 0, "done": n // 4, "failed": n // 4, "cancelled": 0}, c
    r = rows(b)
    assert 5 <= len(r) <= 40, len(r)  # the window's rows, not 10,000
    assert r[0] == "k09999" and r[1] == "k09998", r[:3]  # newest first
    v = task_view(b, "k09998")
    assert v["state"] == "done" and v["bar"] == "100%", v
    # the oldest, at the bottom of the page
    b.eval("window.scrollTo(0, document.body.scrollHeight)")
    wait_for(lambda: rows(b)[-1] == "k00000", 10, "the oldest task in view")
    assert len(rows(b)) <= 40
    assert task_view(b, "k00000")["info"] == "waiting for a worker"
    # a filter on failed: only failed rows, from the top
    b.eval("window.scrollTo(0, 0); document.querySelector("
           "'#counts [data-status=failed]').click()")
    wait_for(lambda: (rows(b) or [""])[0] == "k09999" and
             all(task_view(b, i)["state"] == "failed" for i in rows(b)[:3]),
             10, "the failed filter")
    # still live: a new task and a change to a shown one
    publish_notes([note("fresh", "failed", error="late", time=now + n + 1)])
    wait_for(lambda: rows(b)[0] == "fresh", 15, "a new failed task on top")
    assert counts(b)["failed"] == n // 4 + 1 and counts(b)[""] == n + 1
    mm.stop()


def message(b):
    """The page's status line: (text, is an error)."""
    return b.eval("(function (m) { return [m.textContent, m.className === 'err']; })"
                  "(document.getElementById('msg'))")


def click(b, selector):
    b.eval("document.getElementById('msg').textContent = '';"
           "document.querySelector(%s).click()" % json.dumps(selector))


def submit(b, name, url, sha=""):
    """Fills the page's form and presses Download: the task id it was given."""
    b.eval("""(function () { var f = document.getElementById('add');
        document.getElementById('msg').textContent = '';
        f.name.value = %s; f.url.value = %s; f.sha.value = %s;
        f.querySelector('button').click(); })()""" % tuple(
        json.dumps(x) for x in (name, url, sha)))
    text, err = wait_for(lambda: (lambda m: m if m[0] else None)(message(b)), 15,
                         "the tasker's answer on the page")
    assert not err and text.startswith("queued %s (" % name), text
    return text[len("queued %s (" % name):-1]


def live_page(b, port, token):
    b.call("Page.navigate", url="http://127.0.0.1:%d/?token=%s" % (port, token))
    wait_for(lambda: b.eval("document.getElementById('conn') && "
                            "document.getElementById('conn').textContent") == "live",
             15, "the page's WebSocket to open")


@timeout(240)
def test_page_drives_the_tasker():
    """The page against the real tasker, worker, middleman, RabbitMQ and
    nginx, all with --token: a download submitted from the form finishes;
    a slow one (nginx's throttled /slow/) is cancelled from its button and
    ends `cancelled` with no .part left; a task the tasker refuses shows its
    error; Pause, Resume and Set rate send their control messages; the
    counts follow."""
    tok = "pagetok2"
    purge("tasks")
    tasker = start_tasker("--token", tok, connected=True)
    mm = start("--interval", "0", "--token", tok,
               "--tasker-url", "http://127.0.0.1:%d/" % tasker.port)
    worker = start_worker("--concurrency", "2", wait_log="warren.control read to its end")
    b = browser()
    try:
        live_page(b, mm.port, tok)
        # submit, and see it finish
        tid = submit(b, "page small", ENV.url("small.txt"), ENV.sha256("small.txt").upper())
        v = wait_view(b, tid, lambda v: v["state"] == "done", "the submitted task done", 60)
        assert worker.dir in v["info"] and v["bar"] == "100%", v
        assert os.path.exists(os.path.join(worker.dir, "small.txt"))
        assert counts(b)["done"] == 1 and counts(b)[""] == 1
        # the tasker's refusal is shown, the page carries on
        b.eval("document.getElementById('add').url.value = 'ftp://127.0.0.1/x';"
               "document.getElementById('add').name.value = 'refused';"
               "document.querySelector('#add button').click()")
        text, err = wait_for(lambda: (lambda m: m if m[1] else None)(message(b)), 15,
                             "the refusal on the page")
        assert "POST /task: 400" in text and "http" in text, text
        # a slow download, cancelled from its button while it runs
        slow = submit(b, "page slow", ENV.url("slow/10m.bin?rate=65536"))
        wait_view(b, slow, lambda v: v["state"] == "progress" and "/s" in v["info"],
                  "the slow download running, with its speed", 60)
        v = task_view(b, slow)
        assert " left" in v["info"], v
        click(b, '[data-id="%s"] .x' % slow)
        wait_for(lambda: message(b)[0] == "cancelling page slow", 15, "cancelling")
        v = wait_view(b, slow, lambda v: v["state"] == "cancelled", "cancelled", 30)
        assert b.eval("document.querySelector('[data-id=\"%s\"] .x').hidden" % slow)
        assert not [f for f in os.listdir(worker.dir) if f.endswith(".part")]
        assert not os.path.exists(os.path.join(worker.dir, "10m.bin"))
        c = counts(b)
        assert c["cancelled"] == 1 and c["done"] == 1 and c[""] == 2, c
        # pause, resume and rate: each button sends its control message
        click(b, "#pause")
        tasker.wait_log(r'control: \{"op":"pause"', 15)
        wait_for(lambda: message(b)[0] == "paused", 15, "paused on the page")
        assert b.eval("document.getElementById('ctl').textContent").startswith("paused")
        click(b, "#resume")
        tasker.wait_log(r'control: \{"op":"resume"', 15)
        wait_for(lambda: message(b)[0] == "resumed", 15, "resumed on the page")
        b.eval("document.getElementById('rate').limit.value = '3M'")
        click(b, "#rate button")
        tasker.wait_log(r'control: \{"op":"rate","limit":3145728', 15)
        wait_for(lambda: "3.0 MiB/s" in b.eval("document.getElementById('ctl').textContent"),
                 15, "the rate limit in the header")
        # resumed: the workers take tasks again
        tid = submit(b, "page after", ENV.url("1m.bin"))
        wait_view(b, tid, lambda v: v["state"] == "done", "a task after resume done", 60)
        assert counts(b)["done"] == 2
        b.eval("document.getElementById('rate').limit.value = '0'")
        click(b, "#rate button")
        tasker.wait_log(r'control: \{"op":"rate","limit":0', 15)
        wait_for(lambda: "rate limit: none" in b.eval(
            "document.getElementById('ctl').textContent"), 15, "no rate limit")
    finally:
        # the control stream outlives the test: leave it running, unlimited
        for body in ('{"op":"resume"}', '{"op":"rate","limit":0}'):
            http("POST", tasker.port, "/control", body=body,
                 headers={"Authorization": "Bearer " + tok})
    worker.stop()
    mm.stop()
    tasker.stop()
