// ReDoc's bundle always draws a "by Redocly" logo from cdn.redoc.ly (no option turns it off):
// a request to the internet from a page that promises to load nothing from it, and a failed
// request in the console of every offline install. Loaded before the bundle, this points that
// one image at the project's own icon instead.
(() => {
  const REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
  const LOCAL_LOGO = document.currentScript.dataset.logo;
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && name === "src" && value === REMOTE_LOGO) value = LOCAL_LOGO;
    return setAttribute.call(this, name, value);
  };
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...src,
    set(value) {
      src.set.call(this, value === REMOTE_LOGO ? LOCAL_LOGO : value);
    },
  });
})();
