// A tiny DOM helper. Text always goes in as text nodes and attributes through
// setAttribute: no outside value is ever parsed as HTML.

export type Child = Node | string | number | null | undefined | false | Child[];

type Handler = (ev: Event) => void;
export type Props = {
  [key: string]: string | number | boolean | null | undefined | Handler | Record<string, string>;
};

// Properties set as DOM properties rather than attributes (their live state matters).
const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'indeterminate']);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) {
        if (PROPS.has(key) && value === false) (el as unknown as Record<string, unknown>)[key] = false;
        continue;
      }
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value as Handler);
      } else if (key === 'dataset' && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
      } else if (PROPS.has(key)) {
        (el as unknown as Record<string, unknown>)[key] = value;
      } else if (key === 'class') {
        el.className = String(value);
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces every child of `el`. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** An http(s) URL from outside, or null: never a `javascript:` or other scheme in an href. */
export function safeUrl(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw === '') return null;
  try {
    const u = new URL(raw, window.location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

let idCounter = 0;
/** A unique id for label/field pairs. */
export function uid(prefix = 'f'): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}
