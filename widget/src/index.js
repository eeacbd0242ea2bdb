// Entry point of static/widget.js:
//   <script src="https://HOST/widget.js" data-key="EMBED_KEY" async></script>
// start() must run synchronously here: document.currentScript is only set
// while this file is executing.

import { start } from './app.js';

start(window);
