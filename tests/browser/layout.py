"""What "nothing clipped" means on a perfkit page, asked of the DOM (shared by the tests).

- the page scrolls sideways (``scrollWidth`` over the window's width);
- a table cell ends right of the window, or right of a scroll container it
  sits in (a column you would have to find by scrolling a table);
- an element that hides its overflow has content cut off;
- an inline SVG chart's label runs past the chart's edge (an SVG hides what
  falls outside its box).

The page's icon must be served (else the browser asks for ``/favicon.ico``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.browser.driver import Browser

WIDTHS = (1280, 1920)
HEIGHT = 900

LAYOUT_JS = """
var vw = window.innerWidth, problems = [];
function describe(el) {
  var text = (el.innerText || el.textContent || '').trim().replace(/\\s+/g, ' ');
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.getAttribute('class') ? '.' + el.getAttribute('class').trim()
      .replace(/\\s+/g, '.') : '') + ' "' + text.slice(0, 40) + '"';
}
function shown(el) {
  var box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0;
}
var page = document.documentElement.scrollWidth;
if (page > vw) problems.push('the page scrolls sideways: ' + page + ' px wide in ' + vw);
document.querySelectorAll('#content table').forEach(function (table) {
  var limit = vw, by = 'the window';
  for (var el = table.parentElement; el; el = el.parentElement) {
    if (getComputedStyle(el).overflowX !== 'visible') {
      var right = el.getBoundingClientRect().right;
      if (right < limit) { limit = right; by = describe(el); }
    }
  }
  table.querySelectorAll('th, td').forEach(function (cell) {
    var right = cell.getBoundingClientRect().right;
    if (shown(cell) && right > limit + 1) {
      problems.push(describe(cell) + ' ends at ' + Math.round(right) + ' px, past ' + by +
                    ' (' + Math.round(limit) + ' px)');
    }
  });
});
document.querySelectorAll('#content *').forEach(function (el) {
  var style = getComputedStyle(el);
  var hides = ['hidden', 'clip'].indexOf(style.overflowX) >= 0 || style.textOverflow === 'ellipsis';
  if (hides && shown(el) && el.clientWidth > 1 && el.scrollWidth > el.clientWidth + 1) {
    problems.push(describe(el) + ' cuts off its content: ' + el.scrollWidth + ' px in ' +
                  el.clientWidth);
  }
});
document.querySelectorAll('#content svg').forEach(function (svg) {
  var chart = svg.getBoundingClientRect();
  if (!shown(svg)) return;
  svg.querySelectorAll('text').forEach(function (text) {
    var box = text.getBoundingClientRect();
    if (box.width > 0 && (box.left < chart.left - 1 || box.right > chart.right + 1 ||
                          box.top < chart.top - 1 || box.bottom > chart.bottom + 1)) {
      problems.push(describe(svg) + ' cuts off its label "' + text.textContent.slice(0, 40) +
                    '" (' + Math.round(box.left) + '-' + Math.round(box.right) + ' px in ' +
                    Math.round(chart.left) + '-' + Math.round(chart.right) + ')');
    }
  });
});
return problems;
"""

ICON_JS = """
var done = arguments[arguments.length - 1];
var link = document.querySelector('link[rel~="icon"]');
if (!link) { done('no <link rel="icon">: the browser asks for /favicon.ico'); return; }
if (link.href.indexOf('data:') === 0) { done(''); return; }
fetch(link.href).then(function (r) { done(r.ok ? '' : link.href + ' answers ' + r.status); })
  .catch(function (e) { done(link.href + ': ' + e); });
"""


@contextmanager
def window_width(browser: Browser, width: int) -> Iterator[int]:
    """The browser's layout viewport set to ``width`` px (innerWidth exactly)."""
    browser.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        yield width
    finally:
        browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def layout_problems(browser: Browser) -> list[str]:
    """What is clipped on the current page, its icon, and the console's errors since the
    last read (all SEVERE entries: a favicon 404 counts here)."""
    problems = list(browser.driver.execute_script(LAYOUT_JS))
    icon = browser.driver.execute_async_script(ICON_JS)
    if icon:
        problems.append(icon)
    problems += [
        f"console: {entry['message']}"
        for entry in console_entries(browser)
        if entry["level"] == "SEVERE"
    ]
    return problems


def console_entries(browser: Browser) -> list[dict[str, Any]]:
    """The console's messages since the last read (reading them empties the log)."""
    return list(browser.driver.get_log("browser"))  # type: ignore[no-untyped-call]
