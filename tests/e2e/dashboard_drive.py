#!/usr/bin/env python3
"""dashboard_drive.py URL TOKEN CLASS N SHOT: drive the dashboard in
headless Chromium over the DevTools protocol (--remote-debugging-pipe,
standard library only): type the token, publish to CLASS through the
form, wait until the message's row shows N acked, save a screenshot
into SHOT.  Prints the message ID; exits 1 with a reason on failure."""
import base64, json, os, select, subprocess, sys, time

url, tok, cls, n, shot = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
a_r, a_w = os.pipe()   # commands to chromium (its fd 3)
b_r, b_w = os.pipe()   # replies from chromium (its fd 4)

def fds():
    x, y = os.dup(a_r), os.dup(b_w)
    os.dup2(x, 3); os.dup2(y, 4)

args = [os.environ.get("CHROMIUM", "chromium"), "--headless", "--no-sandbox",
        "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
        "--user-data-dir=" + os.path.dirname(os.path.abspath(shot)) + "/chromium",
        "--window-size=1200,900", "about:blank"]
p = subprocess.Popen(args, preexec_fn=fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=open(shot + ".chromium.log", "w"))
os.close(a_r); os.close(b_w)
buf = b""; seq = 0; session = None

def fail(msg):
    print("dashboard_drive: " + msg, file=sys.stderr)
    p.kill(); p.wait(10); sys.exit(1)

def send(method, params=None, deadline=20):
    global seq, buf
    seq += 1
    m = {"id": seq, "method": method, "params": params or {}}
    if session: m["sessionId"] = session
    os.write(a_w, json.dumps(m).encode() + b"\0")
    end = time.time() + deadline

    while time.time() < end:
        while b"\0" in buf:
            raw, buf = buf.split(b"\0", 1)
            r = json.loads(raw)
            if r.get("id") == seq:
                if "error" in r: fail(method + ": " + json.dumps(r["error"]))
                return r.get("result", {})
        if select.select([b_r], [], [], 1)[0]:
            d = os.read(b_r, 1 << 20)
            if not d: fail("chromium closed its pipe")
            buf += d
    fail(method + ": no answer in %ds" % deadline)

def js(expr):
    r = send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
    return r.get("result", {}).get("value")

def click(sel):
    box = js("(()=>{const r=document.querySelector(%s).getBoundingClientRect();return [r.x+r.width/2,r.y+r.height/2]})()" % json.dumps(sel))
    for t in ("mousePressed", "mouseReleased"):
        send("Input.dispatchMouseEvent", {"type": t, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

def type_into(sel, text):
    click(sel)
    send("Input.insertText", {"text": text})

def wait(expr, secs, what):
    end = time.time() + secs
    while time.time() < end:
        v = js(expr)
        if v: return v
        time.sleep(0.2)
    fail(what + " not seen within %ds; status: %s; result: %s" % (secs, js("document.getElementById('status').textContent"), js("document.getElementById('p-result').textContent")))

t = send("Target.createTarget", {"url": "about:blank"})
session = send("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True})["sessionId"]
send("Page.enable"); send("Runtime.enable")
send("Page.navigate", {"url": url})
wait("document.readyState==='complete' && !!document.getElementById('publish')", 20, "the page")
type_into("#token", tok)
click("#login button[type=submit]")
wait("document.getElementById('status').textContent.startsWith('updated')", 20, "a first refresh")
type_into("#p-classes", cls)
type_into("#p-body", "hello from the dashboard")
click("#publish button[type=submit]")
mid = wait("document.getElementById('p-result').dataset.id", 20, "the published ID")
wait("(()=>{const tr=document.querySelector('#messages tr[data-id=\"%s\"]');return tr && tr.textContent.includes('acked %d ')})()" % (mid, n), 60, "all %d acked" % n)
png = send("Page.captureScreenshot", {"format": "png"})["data"]
open(shot, "wb").write(base64.b64decode(png))
p.kill(); p.wait(10)
print(mid)
