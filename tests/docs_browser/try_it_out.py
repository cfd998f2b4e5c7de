"""Opens /docs in Debian's headless Chromium (driven by Playwright, no browser download), checks
that the page lists the Greeter operations, and calls SayHello with "Try it out". Prints one
JSON object with what it saw.

Usage: python try_it_out.py http://HOST:PORT
"""

import json
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# No network beyond loopback here: keep Chromium from reaching for Google's services.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main(base_url: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base_url) else None)
        page.goto(f"{base_url}/docs/", wait_until="networkidle")
        page.wait_for_selector(".opblock", timeout=15_000)
        operations = page.eval_on_selector_all(
            ".opblock", "blocks => blocks.map(b => b.querySelector('.opblock-summary-path')?.innerText + ' ' + b.querySelector('.opblock-summary-method')?.innerText)"
        )

        operation = page.locator("#operations-Greeter-SayHello")
        operation.locator(".opblock-summary").click()
        operation.locator(".try-out__btn").click()
        operation.locator(".execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for(timeout=15_000)
        body = operation.locator(".live-responses-table .response-col_description pre").first.inner_text()
        result = {
            "operations": sorted(operations),
            "say_hello_status": status.inner_text().strip(),
            "say_hello_body": json.loads(body),
            "requests_outside_the_server": outside,
        }
        browser.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
