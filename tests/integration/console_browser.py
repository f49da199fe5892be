#!/usr/bin/env python3
"""The web console in a real browser (Debian's Chromium, headless, driven by
python3-selenium through chromium-driver).

A fault-injected TraceBench run (a DataNode killed during writes) is streamed
through `weft sim replay | weft replay - --console 127.0.0.1:0 --hold` while
the page is open. The test checks, in the page:
  - a trace the run's ground truth marks as failed appears in the live feed
    (pushed by server-sent events: the page is not reloaded);
  - opening it shows its drawing against the nearest template with new
    pieces marked (rect.new) and its explanation;
  - a search by its trace id finds it;
  - the latency heatmap gains columns as seconds pass;
  - the model panel lists templates and draws one.
Screenshots go to BUILD/console-artifacts/. The time from each anomaly's
verdict to its row in the page is printed (BENCHMARKS.md quotes it); it is
not asserted. Waits are bounded so a broken console fails instead of hanging.

usage: console_browser.py WEFT SOURCE_ROOT BUILD_ROOT
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

WEFT, SRC, BUILD = sys.argv[1:4]
ART = os.path.join(BUILD, "console-artifacts")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from console_common import (RUN, Browser, debian_module, fail, prepare, start_console,  # noqa: E402
                            stop, wait_log)

# before any process is started: this may run the script again under
# Debian's python3, which would leave them behind
debian_module("selenium", "python3-selenium")

def main():
    os.makedirs(ART, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="weft-console-")
    weft = sim = br = None
    try:
        failed = prepare(WEFT, SRC, tmp)
        weft, log, url = start_console(WEFT, tmp)
        br = Browser(ART)
        from selenium.webdriver.common.by import By
        drv = br.drv
        drv.get(url + "/")
        br.wait("the stream to open", lambda d: d.find_element(By.ID, "status").text == "live")
        br.wait("the model panel", lambda d: d.find_elements(By.CSS_SELECTOR, "#model tr"))
        cols0 = int(drv.find_element(By.ID, "heatmaps").get_attribute("data-columns"))

        # stream the fault run into weft while the page is open
        sim = subprocess.Popen([WEFT, "sim", "replay", f"{tmp}/{RUN}.jsonl", "--rate", "4000"],
                               stdout=weft.stdin, stderr=subprocess.DEVNULL)
        weft.stdin.close()

        def failed_in_feed(d):
            items = d.find_elements(By.CSS_SELECTOR, "#feed li.feed-item")
            hits = [i for i in items if i.get_attribute("data-trace-id") in failed]
            return hits[0] if hits else None

        item = br.wait("a failed trace in the live feed", failed_in_feed)
        tid = item.get_attribute("data-trace-id")
        print(f"console_browser: failed trace {tid} is in the feed")
        drv.save_screenshot(os.path.join(ART, "feed.png"))

        item.click()
        br.wait("the trace's drawing",
             lambda d: d.find_elements(By.CSS_SELECTOR, "#drawing svg rect.new"))
        title = drv.find_element(By.ID, "detail-title").text
        if tid not in title:
            fail(f"the detail shows {title!r}, not {tid}")
        figs = drv.find_elements(By.CSS_SELECTOR, "#drawing figure")
        if len(figs) != 2:
            fail(f"expected the template and the trace side by side, got {len(figs)} figures")
        expl = drv.find_element(By.CSS_SELECTOR, "#detail .expl").text
        if "new" not in expl:
            fail(f"the explanation does not say what is new: {expl!r}")
        if not figs[1].find_elements(By.CSS_SELECTOR, "text.hosts") or \
           not figs[1].find_elements(By.CSS_SELECTOR, "text.times"):
            fail("the trace's boxes carry no hosts or times")
        line = drv.find_element(By.ID, "model-line").text
        if not re.search(r"trained \d{4}-\d\d-\d\dT[\d:]+Z by weft train: ", line):
            fail(f"the model line does not say when and from what it was trained: {line!r}")
        drv.find_element(By.ID, "drawing").screenshot(os.path.join(ART, "trace.png"))

        box = drv.find_element(By.ID, "s-id")
        box.send_keys(tid)
        drv.find_element(By.ID, "s-go").click()
        br.wait("the search result",
             lambda d: d.find_elements(By.CSS_SELECTOR,
                                       f"#search-results tr.result[data-trace-id='{tid}']"))
        rows = drv.find_elements(By.CSS_SELECTOR, "#search-results tr.result")
        if any(r.get_attribute("data-trace-id") != tid for r in rows):
            fail("a search by trace id found other traces")

        # the heatmap has a column per second: watch it grow
        br.wait("heatmap cells", lambda d: d.find_elements(By.CSS_SELECTOR, "svg.heatmap rect"))
        c1 = int(drv.find_element(By.ID, "heatmaps").get_attribute("data-columns"))
        br.wait("the heatmap to gain columns",
             lambda d: int(d.find_element(By.ID, "heatmaps").get_attribute("data-columns")) >= c1 + 2)
        c2 = int(drv.find_element(By.ID, "heatmaps").get_attribute("data-columns"))
        print(f"console_browser: heatmap columns {cols0} -> {c1} -> {c2}")

        # the host anomalies panel is drawn from /api/hosts (its header, and
        # a row per open anomaly or the line that says none is open)
        br.wait("the host anomalies panel",
             lambda d: len(d.find_elements(By.CSS_SELECTOR, "#hosts th")) == 7 and
             len(d.find_elements(By.CSS_SELECTOR, "#hosts tr")) >= 2)
        drv.find_elements(By.CSS_SELECTOR, "#model tr")[1].click()
        br.wait("a template drawing",
             lambda d: d.find_elements(By.CSS_SELECTOR, "#template-drawing svg"))

        sim.wait(timeout=120)
        wait_log(weft, log, "input done")
        # every anomaly written to the anomalies file reaches the page
        def all_shown(d):
            if not os.path.exists(f"{tmp}/anom.jsonl"):
                return False
            recs = [json.loads(l) for l in open(f"{tmp}/anom.jsonl") if l.strip()]
            want = {r["trace_id"] for r in recs if r.get("type") == "anomaly"}
            got = {i.get_attribute("data-trace-id")
                   for i in d.find_elements(By.CSS_SELECTOR, "#feed li.feed-item")}
            return want and want <= got and len(want)

        n = br.wait("every anomaly in the feed", all_shown, timeout=90)
        lat = [int(i.get_attribute("data-shown-ms")) - int(i.get_attribute("data-verdict-ns")) / 1e6
               for i in drv.find_elements(By.CSS_SELECTOR, "#feed li.feed-item")]
        lat.sort()
        print(f"console_browser: {n} anomalies shown; verdict -> visible in the page: "
              f"p50 {statistics.median(lat):.0f} ms, max {lat[-1]:.0f} ms (n={len(lat)})")
        drv.execute_script("window.scrollTo(0, 0)")
        drv.save_screenshot(os.path.join(ART, "console.png"))
        print(f"console_browser: screenshots in {ART}")
    finally:
        if br:
            br.quit()
        if sim and sim.poll() is None:
            sim.kill()
        if weft:
            stop(weft)
        shutil.rmtree(tmp, ignore_errors=True)
    print("console_browser: ok")


main()
