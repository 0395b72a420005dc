// A tiny element builder: text always goes in through textContent, never as HTML.

/** Create an element with attributes (class, dataset, aria-*, ...) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Set an element's text, and its title when given. */
export function setText(el, text, title) {
  if (el.textContent !== text) el.textContent = text;
  if (title !== undefined) el.title = title;
}

/** Show or hide an element. */
export function show(el, visible) {
  el.hidden = !visible;
}
