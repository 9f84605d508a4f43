// Loaded on /redoc before the vendored ReDoc bundle. ReDoc's sidebar footer ("API docs by
// Redocly") always adds Redocly's logo from their CDN; our CSP (img-src 'self' data:) blocks
// that third-party load and the browser logs the block as an error. Hand that one image an
// empty data: URL instead: it fails to decode, and ReDoc's own onError handler drops the image.
(function () {
  var CDN = "https://cdn.redoc.ly/";
  var local = function (value) { return String(value).indexOf(CDN) === 0 ? "data:," : value; };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true, enumerable: src.enumerable, get: src.get,
    set: function (value) { src.set.call(this, local(value)); }
  });
})();
