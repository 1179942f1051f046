"""Check the internal links of the built documentation.

Usage: python tools/check_doc_links.py docs/_build/html

Every relative ``href`` and ``src`` of every HTML page (outside ``_static``) (links, images,
scripts, style sheets) must name a file of the build, and every ``#anchor``
must be an ``id`` (or ``name``) in the page it points to. External links
(``http:``, ``https:``, ``mailto:``...) are not followed: CI reaches no site
but the package registries. Exits 1, listing each broken link, if any is
found.
"""
import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

LINK_ATTRIBUTES = {"a": "href", "link": "href", "img": "src", "script": "src",
                   "iframe": "src", "source": "src"}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.anchors = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.anchors.add(attrs[key])
        attribute = LINK_ATTRIBUTES.get(tag)
        if attribute and attrs.get(attribute):
            self.links.append((tag, attrs[attribute]))


def _parse(path, cache):
    if path not in cache:
        page = _Page()
        with open(path, encoding="utf-8") as f:
            page.feed(f.read())
        cache[path] = page
    return cache[path]


def check(root):
    """Broken links under ``root`` as (page, link, reason) tuples, and the page count."""
    root = os.path.abspath(root)
    # _static holds the theme's assets (some are Jinja templates, not pages).
    pages = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root)
                   for name in names if name.endswith(".html")
                   and not os.path.relpath(folder, root).split(os.sep)[0] == "_static")
    cache, broken = {}, []
    for page_path in pages:
        for tag, link in _parse(page_path, cache).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc:
                continue  # external
            if parts.path:
                target = os.path.normpath(os.path.join(os.path.dirname(page_path),
                                                       unquote(parts.path)))
                if os.path.isdir(target):
                    target = os.path.join(target, "index.html")
            else:
                target = page_path
            where = os.path.relpath(page_path, root)
            if not target.startswith(root + os.sep):
                broken.append((where, link, "points outside the site"))
            elif not os.path.isfile(target):
                broken.append((where, link, "no such file"))
            elif parts.fragment and target.endswith(".html"):
                if unquote(parts.fragment) not in _parse(target, cache).anchors:
                    broken.append((where, link, "no such anchor"))
    return broken, len(pages)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not os.path.isdir(argv[0]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    broken, n_pages = check(argv[0])
    for page, link, reason in broken:
        print(f"{page}: {link}: {reason}")
    print(f"checked the internal links of {n_pages} pages: {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
