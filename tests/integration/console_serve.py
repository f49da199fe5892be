#!/usr/bin/env python3
"""The web console in `weft serve`, from a real Kafka broker
(scripts/kafka.sh), in Debian's Chromium (headless, python3-selenium):
the fault-injected TraceBench run is produced into a topic while the page
is open; the failed trace appears in the live feed and opens with its
drawing and new pieces marked; the rate panels show consumer lag per
partition; the service's /metrics has the console's series, the latency
histograms in seconds, process_* and weft_build_info. Screenshot:
BUILD/console-artifacts/serve.png.

usage: console_serve.py WEFT SOURCE_ROOT BUILD_ROOT
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

WEFT, SRC, BUILD = sys.argv[1:4]
ART = os.path.join(BUILD, "console-artifacts")
KAFKA = os.path.join(SRC, "scripts", "kafka.sh")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_common import RUN, Browser, debian_module, fail, prepare  # noqa: E402

# before any process is started: this may run the script again under
# Debian's python3, which would leave them behind
debian_module("selenium", "python3-selenium")

def main():
    os.makedirs(ART, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="weft-console-serve-")
    kdir = os.path.join(tmp, "kafka")
    serve = br = None
    try:
        failed = prepare(WEFT, SRC, tmp)
        bs = subprocess.run([KAFKA, "start", kdir], check=True, capture_output=True,
                            text=True).stdout.strip()
        for t in (("in", "2"), ("anom", "1")):
            subprocess.run([KAFKA, "topic", kdir, *t], check=True, capture_output=True)
        log = open(f"{tmp}/serve.log", "w+")
        serve = subprocess.Popen(
            [WEFT, "serve", "--brokers", bs, "--topics", "in", "--group", "g",
             "--model", f"{tmp}/m.model", "--workers", "2", "--metrics", "127.0.0.1:0",
             "--idle.epochs", "10", "--anomalies.topic", "anom", "--deadletter.topic", "",
             "--console.addr", "127.0.0.1:0", "-X", "session.timeout.ms=6000"],
            stderr=log)
        url = metrics = None
        for _ in range(300):
            log.seek(0)
            text = log.read()
            m = re.search(r"console at (http://\S+?)/", text)
            mm = re.search(r"metrics on (http://\S+?)/metrics", text)
            if m and mm:
                url, metrics = m.group(1), mm.group(1)
                break
            if serve.poll() is not None:
                break
            time.sleep(0.1)
        if not url:
            log.seek(0)
            fail("weft serve did not start its console: " + log.read()[-2000:])
        br = Browser(ART)
        from selenium.webdriver.common.by import By
        drv = br.drv
        drv.get(url + "/")
        br.wait("the stream to open", lambda d: d.find_element(By.ID, "status").text == "live")
        subprocess.run([WEFT, "sim", "replay", f"{tmp}/{RUN}.jsonl", "--to", "kafka",
                        "--brokers", bs, "--topic", "in"], check=True,
                       stderr=subprocess.DEVNULL)

        def failed_in_feed(d):
            hits = [i for i in d.find_elements(By.CSS_SELECTOR, "#feed li.feed-item")
                    if i.get_attribute("data-trace-id") in failed]
            return hits[0] if hits else None

        item = br.wait("a failed trace in the live feed", failed_in_feed)
        item.click()
        br.wait("the trace's drawing",
             lambda d: d.find_elements(By.CSS_SELECTOR, "#drawing svg rect.new"))
        br.wait("consumer lag in the rate panels",
             lambda d: d.find_elements(By.CSS_SELECTOR, "#rates [data-rate^='lag p']"))
        drv.execute_script("window.scrollTo(0, 0)")
        drv.save_screenshot(os.path.join(ART, "serve.png"))
        text = urllib.request.urlopen(metrics + "/metrics", timeout=10).read().decode()
        for name in ("weft_console_store_bytes ", "weft_verdict_latency_seconds_bucket{le=",
                     "weft_verdict_latency_seconds_count ",
                     "weft_epoch_close_seconds_bucket{le=", "weft_epoch_close_seconds_count ",
                     'weft_trace_duration_seconds_bucket{verdict="unknown_structure",le=',
                     "process_cpu_seconds_total ", "process_resident_memory_bytes ",
                     "weft_build_info{version=", 'weft_partition_committed_offset{topic="in"'):
            if name not in text:
                fail(f"weft serve's /metrics has no {name.strip()}")
        if not re.search(r'weft_partition_committed_offset\{[^}]*worker="\d+"', text):
            fail("committed offsets have no worker label")
        print("console_serve: ok")
    finally:
        if br:
            br.quit()
        if serve and serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                serve.kill()
        subprocess.run([KAFKA, "stop", kdir, "--clean"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


main()
