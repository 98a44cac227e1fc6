// The wire constants shared by the recorder's modules. The numbers are the event format
// (docs/events.md, py_core/events.py): members are only ever appended.

/** Event types. */
export const EventType = {
  META: 0,
  SNAPSHOT: 1,
  MUTATION: 2,
  CLICK: 3,
  INPUT: 4,
  SCROLL: 5,
  MOUSE: 6,
  VIEWPORT: 7,
  NAVIGATION: 8,
  ERROR: 9,
  NETWORK: 10,
  CUSTOM: 11,
  VISIBILITY: 12,
  IDENTIFY: 13,
  STYLE: 14,
  ADOPT: 15,
  FOCUS: 16,
  CANVAS: 17,
};

// Privacy markup: Sightline's data-sl-* attributes and rrweb's rr-* classes.
export const MASK_SELECTOR = '[data-sl-mask],.rr-mask';
export const BLOCK_SELECTOR = '[data-sl-block],.rr-block';
export const IGNORE_SELECTOR = '[data-sl-ignore],.rr-ignore';
export const UNMASK_SELECTOR = '[data-sl-unmask]';
/** Elements whose content is never recorded (scripts cannot run in replay anyway). */
export const SKIP_TAGS = /^(script|noscript|template)$/;
