"""The officer, analyst and declarant pages, served by the node itself: server-rendered HTML
(Jinja2), every asset shipped in the package, no inline script or style (a strict content
security policy holds), French first. Pages call the same service functions as the API."""
