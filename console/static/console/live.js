/* Live regions (console/pages/live.py): htmx polls each region's page; this file makes the
 * polls conditional, pauses them while the tab is hidden, and keeps what the operator was
 * doing (checked rows, typed values, open details, focus, scroll) across a swap.
 *
 * - If-None-Match is sent from here: the region carries its ETag (data-live-etag), and a
 *   request that sets the header itself gets the server's 304 (htmx-config says 304 does
 *   not swap); left to the browser's cache, a 304 would reach htmx as a 200.
 * - While document.hidden, a poll is cancelled before it leaves; on becoming visible every
 *   region is asked for at once ("live-refresh" is in each region's hx-trigger).
 * - A region in which the operator is typing (focus in a text field, a select) is not
 *   swapped: the next poll brings the change again once they leave the field.
 */
"use strict";
(function () {
  const REGION = "[data-live-region]";
  const saved = new Map();

  function isRegion(elt) {
    return elt instanceof Element && elt.matches(REGION);
  }

  function isTyping(region) {
    const active = document.activeElement;
    if (!active || !region.contains(active)) return false;
    if (active.isContentEditable || active.tagName === "TEXTAREA" || active.tagName === "SELECT") return true;
    if (active.tagName !== "INPUT") return false;
    return !["checkbox", "radio", "button", "submit", "reset", "image", "hidden", "file"].includes(active.type);
  }

  // Where an element sits under the region: child indexes, the last resort of a key.
  function pathOf(region, elt) {
    const path = [];
    for (let node = elt; node && node !== region; node = node.parentElement) {
      path.unshift(Array.prototype.indexOf.call(node.parentElement.children, node));
    }
    return path.join(".");
  }

  function atPath(region, path) {
    let node = region;
    for (const index of path ? path.split(".") : []) {
      node = node && node.children[Number(index)];
    }
    return node || null;
  }

  function keyOf(region, elt) {
    if (elt.id) return "#" + elt.id;
    if (elt.name && (elt.type === "checkbox" || elt.type === "radio")) return "=" + elt.name + "=" + elt.value;
    if (elt.name) return "=" + elt.name;
    if (elt.tagName === "A" && elt.getAttribute("href")) return "a" + elt.getAttribute("href");
    return "@" + pathOf(region, elt);
  }

  function find(region, key) {
    if (key.startsWith("#")) return region.querySelector("#" + CSS.escape(key.slice(1)));
    if (key.startsWith("a")) return region.querySelector('a[href="' + CSS.escape(key.slice(1)) + '"]');
    if (key.startsWith("@")) return atPath(region, key.slice(1));
    const rest = key.slice(1);
    const cut = rest.indexOf("=");
    const name = cut < 0 ? rest : rest.slice(0, cut);
    const value = cut < 0 ? undefined : rest.slice(cut + 1);
    const selector = value === undefined
      ? '[name="' + CSS.escape(name) + '"]'
      : '[name="' + CSS.escape(name) + '"][value="' + CSS.escape(value) + '"]';
    return region.querySelector(selector);
  }

  function capture(region) {
    const state = { fields: [], details: [], scrolled: [], focus: null, across: false };
    state.window = [window.scrollX, window.scrollY];
    region.querySelectorAll("input, select, textarea").forEach(function (field) {
      if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked !== field.defaultChecked) state.fields.push([keyOf(region, field), "checked", field.checked]);
      } else if (field.tagName === "SELECT") {
        const changed = Array.from(field.options).some((option) => option.selected !== option.defaultSelected);
        if (changed) state.fields.push([keyOf(region, field), "value", field.value]);
      } else if (field.type !== "hidden" && field.type !== "file" && field.value !== field.defaultValue) {
        state.fields.push([keyOf(region, field), "value", field.value]);
      }
    });
    region.querySelectorAll("details").forEach(function (details) {
      state.details.push([pathOf(region, details), details.open]);
    });
    region.querySelectorAll("*").forEach(function (elt) {
      if (elt.scrollTop || elt.scrollLeft) state.scrolled.push([pathOf(region, elt), elt.scrollTop, elt.scrollLeft]);
    });
    const active = document.activeElement;
    if (active && active !== region && region.contains(active)) {
      state.focus = { key: keyOf(region, active), start: active.selectionStart, end: active.selectionEnd };
    }
    const across = document.querySelector("div.actions input.select-across");
    state.across = Boolean(across && across.value === "1" && region.querySelector("input.action-select"));
    return state;
  }

  function restore(region, state) {
    state.fields.forEach(function ([key, property, value]) {
      const field = find(region, key);
      if (field) field[property] = value;
    });
    state.details.forEach(function ([path, open]) {
      const details = atPath(region, path);
      if (details && details.tagName === "DETAILS") details.open = open;
    });
    state.scrolled.forEach(function ([path, top, left]) {
      const elt = atPath(region, path);
      if (elt) {
        elt.scrollTop = top;
        elt.scrollLeft = left;
      }
    });
    window.scrollTo(state.window[0], state.window[1]);
    if (state.focus) {
      const elt = find(region, state.focus.key);
      if (elt && typeof elt.focus === "function") {
        elt.focus({ preventScroll: true });
        if (state.focus.start != null && elt.setSelectionRange) {
          try {
            elt.setSelectionRange(state.focus.start, state.focus.end);
          } catch (error) {
            // not a text field any more
          }
        }
      }
    }
    rewireChangelistActions(region, state);
  }

  // Django's admin actions (admin/js/actions.js) bind to the rows' checkboxes when the page
  // loads: a swapped table needs binding again, and the counter and "select all" brought
  // back to the selection just restored.
  function rewireChangelistActions(region, state) {
    const boxes = document.querySelectorAll("tr input.action-select");
    if (!region.querySelector("tr input.action-select") || typeof window.Actions !== "function") return;
    if (state.across) boxes.forEach((box) => { box.checked = true; });
    window.Actions(boxes);
    const checked = Array.from(boxes).filter((box) => box.checked);
    checked.forEach((box) => box.closest("tr").classList.add("selected"));
    if (checked.length) checked[0].dispatchEvent(new Event("change", { bubbles: true }));
    if (state.across) {
      const question = document.querySelector("div.actions span.question a");
      if (question) question.click();
    }
  }

  document.addEventListener("htmx:configRequest", function (event) {
    const region = event.detail.elt;
    if (!isRegion(region)) return;
    const etag = region.getAttribute("data-live-etag");
    if (etag) event.detail.headers["If-None-Match"] = etag;
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (isRegion(event.detail.elt) && document.hidden) event.preventDefault();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    const region = event.detail.target;
    if (!isRegion(region) || !event.detail.shouldSwap) return;
    if (isTyping(region)) {
      event.detail.shouldSwap = false;
      return;
    }
    saved.set(region.id, capture(region));
    // htmx focuses an [autofocus] element it swaps in: a poll must never move the focus.
    if (typeof event.detail.serverResponse === "string") {
      event.detail.serverResponse = event.detail.serverResponse.replace(/\sautofocus(?:="[^"]*")?(?=[\s>/])/gi, "");
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    const region = event.target;
    if (!isRegion(region) || !saved.has(region.id)) return;
    const state = saved.get(region.id);
    saved.delete(region.id);
    restore(region, state);
    region.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
  });

  document.addEventListener("visibilitychange", function () {
    if (document.hidden || typeof window.htmx === "undefined") return;
    document.querySelectorAll(REGION).forEach((region) => window.htmx.trigger(region, "live-refresh"));
  });
})();
