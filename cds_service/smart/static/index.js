// The index page's entry point: a file, not an inline script, so the page's
// Content-Security-Policy can say script-src 'self' (docs/decisions/0019).
import { show } from "./app.js";

show();
