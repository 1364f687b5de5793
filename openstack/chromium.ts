/** How stackplay runs the machine's Chromium (Debian's `chromium`) for Horizon screenshots. */

/** Chromium's flags for a screenshot that talks to nothing but the page. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
