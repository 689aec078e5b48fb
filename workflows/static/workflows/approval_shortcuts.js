// Keyboard shortcuts of the approvals inbox and an approval's page (listed on the pages
// under "Keyboard shortcuts"; "?" opens the list). A static file, no inline script: the
// console runs under a strict Content-Security-Policy.
//
// Shortcuts only move focus or follow links: a decision is still the page's POST form.
// "a" puts the operator in the approve form's note field, where Enter submits that form
// (with its CSRF token) and Esc leaves it; nothing is ever decided by a GET or by one key.
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.tagName) return false;
    const tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function follow(selector) {
    const link = document.querySelector(selector);
    if (link && link.href) {
      window.location.assign(link.href);
      return true;
    }
    return false;
  }

  function toggleHelp() {
    const help = document.getElementById("approval-shortcuts");
    if (!help) return false;
    help.open = !help.open;
    if (help.open) help.querySelector("summary").focus();
    return true;
  }

  // --- An approval's page -------------------------------------------------------------
  function startApproving() {
    const form = document.querySelector(".approval-decision form.approve-form");
    const note = form && form.querySelector("input.approve-note");
    const button = form && form.querySelector("button[name=approve]");
    if (!note || !button || button.disabled) return false;
    form.classList.add("shortcut-armed");
    note.focus();
    return true;
  }

  function approvalKeys(key) {
    switch (key) {
      case "j": return follow("#approval-next");
      case "k": return follow("#approval-previous");
      case "u": return follow("#approval-inbox");
      case "a": return startApproving();
      case "r": return follow(".approval-decision a.reject-link");
      default: return false;
    }
  }

  // --- The inbox: j/k choose a row, Enter or o opens it ----------------------------------
  function inboxRows() {
    return Array.from(document.querySelectorAll("#result_list tbody tr"));
  }

  function chooseRow(step) {
    const rows = inboxRows();
    if (!rows.length) return false;
    let index = rows.findIndex((row) => row.classList.contains("shortcut-current"));
    index = index < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(Math.max(index + step, 0), rows.length - 1);
    rows.forEach((row) => row.classList.remove("shortcut-current"));
    const row = rows[index];
    row.classList.add("shortcut-current");
    const link = row.querySelector("a.approval-order");
    if (link) link.focus();
    row.scrollIntoView({ block: "nearest" });
    return true;
  }

  function inboxKeys(key) {
    switch (key) {
      case "j": return chooseRow(1);
      case "k": return chooseRow(-1);
      case "o": return follow("#result_list tbody tr.shortcut-current a.approval-order");
      default: return false;
    }
  }

  document.addEventListener("keydown", (event) => {
    const armed = document.querySelector("form.shortcut-armed");
    if (event.key === "Escape" && armed) {
      armed.classList.remove("shortcut-armed");
      document.activeElement.blur();
      return;
    }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return; // typing a note or a reason: keys are letters
    let handled;
    if (event.key === "?") handled = toggleHelp();
    else if (document.querySelector(".approval-triage")) handled = approvalKeys(event.key);
    else if (document.getElementById("result_list")) handled = inboxKeys(event.key);
    if (handled) event.preventDefault();
  });
})();
