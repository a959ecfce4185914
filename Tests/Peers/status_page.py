"""Loads the daemon's status page in headless Chromium (selenium), as an operator would, and
reports what it shows as JSON: the gas-day total, each well's state, the console's errors; with
an alarm path (scope/id/rule) it presses that alarm's Acknowledge button and reports the page
after it. Keeps a screenshot.

    python3 status_page.py URL SCREENSHOT [ALARM]
"""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

url, screenshot = sys.argv[1], sys.argv[2]
alarm = sys.argv[3] if len(sys.argv) > 3 else ""

options = Options()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,2400"):
    options.add_argument(a)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
errors = []
try:
    driver.set_page_load_timeout(30)
    driver.get(url)
    WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.ID, "total-gas-day")))

    def shown():
        total = driver.find_element(By.ID, "total-gas-day")
        wells = {r.get_attribute("data-well"): r.get_attribute("data-state")
                 for r in driver.find_elements(By.CSS_SELECTOR, "#wells tr[data-well]")}
        rows = driver.find_elements(By.CSS_SELECTOR, "#alarms tr[data-alarm]")
        alarms = [r.get_attribute("data-alarm") for r in rows]
        return {"total_gas_day": total.get_attribute("data-value"), "total_text": total.text, "wells": wells, "alarms": alarms,
                "acked": [r.get_attribute("data-alarm") for r in rows if "acked" in (r.get_attribute("class") or "").split()],
                "svg": len(driver.find_elements(By.CSS_SELECTOR, "svg"))}

    before = shown()
    # Sorting by a column: a click on the wells table's first header.
    headers = driver.find_elements(By.CSS_SELECTOR, "#wells th")
    if headers:
        headers[0].click()
    after = None
    if alarm:
        row = driver.find_element(By.CSS_SELECTOR, f'#alarms tr[data-alarm="{alarm}"]')
        row.find_element(By.CSS_SELECTOR, "button.ack").click()
        # The page reloads once it is taken. While it navigates, the driver may say of the old row
        # that it "does not belong to the document" rather than that it is stale: both mean gone.
        def gone(_):
            try:
                row.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as e:
                if "does not belong to the document" in str(e):
                    return True
                raise
        WebDriverWait(driver, 20).until(gone)
        WebDriverWait(driver, 20).until(EC.presence_of_element_located((By.ID, "total-gas-day")))
        after = shown()
        after["message"] = driver.find_element(By.ID, "message").text
    time.sleep(0.5)
    driver.save_screenshot(screenshot)
    errors = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
    print(json.dumps({"before": before, "after": after, "console_errors": errors}))
finally:
    driver.quit()
