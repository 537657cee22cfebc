// CRAT site configuration, read at page load (not bundled: edit it on the static host).
// apiBase: where the API lives, without the trailing /api/v1, e.g. "https://crat-api.example.com".
// Empty: the build-time VITE_API_BASE, else the site's own origin (the local server).
window.CRAT_CONFIG = { apiBase: "" };
