"""What the console tests share: a model trained on the bundled normal
TraceBench runs, a fault-injected run with its ground truth, and a
`weft replay --console ... --hold` reading a pipe."""
import os
import re
import subprocess
import sys
import time

RUN = "AN_Proc_killDN_w_01FDN_30C_1to19B_0to600INT_15RT_5WT"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def debian_module(name, package):
    """Imports a Python module from a Debian package; when the python3
    running the test (pyenv, a venv) cannot see it, runs the test again
    with Debian's /usr/bin/python3."""
    try:
        return __import__(name)
    except ImportError:
        if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        fail(f"{package} is missing: run scripts/deps.sh")


def prepare(weft, src, tmp):
    """Imports the normal runs and RUN, trains tmp/m.model; returns the ids
    of RUN's failed traces (lower-case hex)."""
    tb = os.path.join(src, "data", "tracebench")
    for d in sorted(os.listdir(tb)):
        if d.startswith("NM_") or d == RUN:
            subprocess.run([weft, "sim", "import-tracebench", os.path.join(tb, d),
                            "-o", f"{tmp}/{d}.jsonl", "--truth", f"{tmp}/{d}.truth"],
                           check=True, stderr=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(src, "scripts", "tracebench_split.py"), tmp],
                   check=True)
    subprocess.run([weft, "replay", f"{tmp}/train.jsonl", "--workers", "2", "--no-out",
                    "--sample", f"{tmp}/train.smp", "--sample-size", "0"],
                   check=True, stderr=subprocess.DEVNULL)
    subprocess.run([weft, "train", f"{tmp}/train.smp", "-o", f"{tmp}/m.model"],
                   check=True, stderr=subprocess.DEVNULL)
    failed = set()
    for line in open(f"{tmp}/{RUN}.truth"):
        f = line.split("\t")
        if len(f) > 1 and f[1] == "failure":
            failed.add(f[0].lower())
    if not failed:
        fail("the fault run has no failed trace in its ground truth")
    return failed


def start_console(weft, tmp, extra=()):
    """weft replay reading a pipe, with the console on a free port and
    --hold: (process, its log file, the console's URL without the slash)."""
    log = open(f"{tmp}/replay.log", "w+")
    proc = subprocess.Popen(
        [weft, "replay", "-", "--epoch-ms", "200", "--idle-epochs", "5", "--workers", "2",
         "--model", f"{tmp}/m.model", "--out", f"{tmp}/traces.jsonl",
         "--anomalies", f"{tmp}/anom.jsonl", "--console", "127.0.0.1:0", "--hold",
         *extra],
        stdin=subprocess.PIPE, stderr=log)
    for _ in range(200):
        log.seek(0)
        m = re.search(r"console at (http://\S+?)/", log.read())
        if m:
            return proc, log, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    fail("weft replay did not start its console: " + log.read())


def wait_log(proc, log, text, timeout=120):
    """Waits (bounded) until the replay's log says text."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        log.seek(0)
        if text in log.read():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    log.seek(0)
    fail(f"weft replay never said {text!r}: {log.read()[-2000:]}")


def stop(proc):
    """SIGTERM a held replay; it must exit 0."""
    if proc.poll() is None:
        proc.terminate()
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("weft replay --hold did not stop on SIGTERM")
    if rc != 0:
        fail(f"weft replay exited {rc}")


class Browser:
    """Debian's Chromium, headless, driven by python3-selenium through
    chromium-driver; wait() fails the test (with a screenshot in art)
    when a condition does not hold within its bound."""

    def __init__(self, art):
        debian_module("selenium", "python3-selenium")
        import shutil
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.ui import WebDriverWait
        driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        if not os.path.exists(driver):
            fail("chromium-driver is missing: run scripts/deps.sh")
        opts = Options()
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--window-size=1400,1800"):
            opts.add_argument(a)
        opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        self.art = art
        self.Wait = WebDriverWait
        self.drv = webdriver.Chrome(service=Service(driver), options=opts)

    def wait(self, what, cond, timeout=60):
        try:
            return self.Wait(self.drv, timeout, poll_frequency=0.2).until(lambda d: cond(d))
        except Exception:
            self.drv.save_screenshot(os.path.join(self.art, "failed.png"))
            fail("timed out waiting for " + what)

    def quit(self):
        self.drv.quit()
