"""The HTML contact sheet: rendering, thumbnails, and the page's own CSS and script."""
