// packager: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  document.addEventListener("click", async function (event) {
    const target = event.target.closest("[data-copy], [data-sign-url]");
    if (!target) return;
    event.preventDefault();
    let text = target.dataset.copy;
    if (target.dataset.signUrl) {
      const response = await fetch(target.dataset.signUrl, {
        method: "POST", headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin",
      });
      const body = await response.json();
      if (!response.ok) { alert(body.detail || "Could not sign a link."); return; }
      text = body.url;
      const output = document.getElementById(target.dataset.output || "");
      if (output) { output.value = text; output.hidden = false; }
    }
    try {
      await navigator.clipboard.writeText(text);
      const label = target.textContent;
      target.textContent = "Copied ✓";
      setTimeout(() => { target.textContent = label; }, 1500);
    } catch (error) {
      window.prompt("Copy this:", text);
    }
  });

  // Forms that ask before doing something that cannot be undone: a modal <dialog> that
  // works by keyboard (never the browser's confirm(), which cannot be styled or named).
  // Without this script the form submits as it is (POST + CSRF); no inline handlers: the
  // Content-Security-Policy allows scripts from static files only.
  let confirmDialog = null;
  let confirmAction = null; // what the confirm button does for the dialog open now
  let confirmOpener = null; // the element that opened it, focused again on close

  function buildConfirmDialog() {
    const dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-title");
    dialog.setAttribute("aria-describedby", "confirm-dialog-text");
    dialog.innerHTML =
      '<h2 id="confirm-dialog-title"></h2><p id="confirm-dialog-text"></p>' +
      '<div class="confirm-dialog-buttons"><button type="button" data-dialog-cancel>Cancel</button> ' +
      '<button type="button" class="danger" data-dialog-confirm></button></div>';
    dialog.querySelector("[data-dialog-cancel]").addEventListener("click", () => dialog.close("cancel"));
    dialog.querySelector("[data-dialog-confirm]").addEventListener("click", () => {
      const action = confirmAction;
      confirmAction = null;
      dialog.close("confirm");
      if (action) action();
    });
    // Tab and Shift+Tab go round the dialog's own buttons while it is open.
    dialog.addEventListener("keydown", (event) => {
      if (event.key !== "Tab") return;
      const buttons = [...dialog.querySelectorAll("button")];
      const first = buttons[0], last = buttons[buttons.length - 1];
      if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
      else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
      else if (!dialog.contains(document.activeElement)) { event.preventDefault(); first.focus(); }
    });
    // Escape (the dialog's "cancel" event), Cancel and confirm all end here.
    dialog.addEventListener("close", () => {
      confirmAction = null;
      const opener = confirmOpener;
      confirmOpener = null;
      if (opener && document.body.contains(opener)) opener.focus();
    });
    document.body.appendChild(dialog);
    return dialog;
  }

  function askToConfirm({ title, text, action, opener, onConfirm }) {
    confirmDialog = confirmDialog || buildConfirmDialog();
    confirmDialog.querySelector("#confirm-dialog-title").textContent = title;
    confirmDialog.querySelector("#confirm-dialog-text").textContent = text;
    confirmDialog.querySelector("[data-dialog-confirm]").textContent = action;
    confirmAction = onConfirm;
    confirmOpener = opener;
    confirmDialog.showModal();
    confirmDialog.querySelector("[data-dialog-cancel]").focus(); // the safe choice
  }

  function buttonLabel(element) {
    return element && element.textContent ? element.textContent.trim() : "";
  }

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (!form) return;
    if (form.dataset.confirmed === "yes") { delete form.dataset.confirmed; return; }
    event.preventDefault();
    const submitter = event.submitter || null;
    const label = buttonLabel(submitter) || "Confirm";
    askToConfirm({
      title: form.dataset.confirmTitle || label + "?",
      text: form.dataset.confirm,
      action: form.dataset.confirmAction || label,
      opener: submitter || document.activeElement,
      onConfirm: () => {
        form.dataset.confirmed = "yes";
        // requestSubmit runs validation and htmx as a click would; the submitter's own
        // name and value (if any) travel with the form.
        if (submitter && submitter.form === form) form.requestSubmit(submitter); else form.requestSubmit();
      },
    });
  });

  // htmx's hx-confirm: the same dialog instead of htmx's call to confirm().
  document.addEventListener("htmx:confirm", function (event) {
    if (!event.detail.question) return;
    event.preventDefault();
    const element = event.detail.elt;
    askToConfirm({
      title: element.dataset.confirmTitle || (buttonLabel(element) || "Confirm") + "?",
      text: event.detail.question,
      action: element.dataset.confirmAction || buttonLabel(element) || "Confirm",
      opener: document.activeElement,
      onConfirm: () => event.detail.issueRequest(true),
    });
  });

  // "Select all" checkboxes in listings.
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-select-all]")) {
      const form = event.target.closest("form") || document;
      const boxes = document.querySelectorAll("input[name=paths]");
      boxes.forEach((box) => { box.checked = event.target.checked; });
    }
    if (event.target.matches("input[name=paths], [data-select-all]")) {
      const count = document.querySelectorAll("input[name=paths]:checked").length;
      const counter = document.getElementById("selected-count");
      if (counter) counter.textContent = count ? count + " selected" : "";
    }
  });

  // Source form: show the fields of the chosen kind only.
  function showKind() {
    const select = document.getElementById("id_kind");
    if (!select) return;
    document.querySelectorAll("[data-kind]").forEach((group) => {
      group.hidden = !group.dataset.kind.split(" ").includes(select.value);
    });
  }
  document.addEventListener("change", (event) => { if (event.target.id === "id_kind") showKind(); });
  document.addEventListener("DOMContentLoaded", showKind);
})();

// Times: the page says UTC; shown in the viewer's own zone, named, once this runs.
(function () {
  "use strict";
  function localTimes(root) {
    let zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (error) { zone = ""; }
    root.querySelectorAll("time[data-local-time]").forEach((element) => {
      const moment = new Date(element.getAttribute("datetime"));
      if (isNaN(moment)) return;
      const pad = (number) => String(number).padStart(2, "0");
      const offset = -moment.getTimezoneOffset();
      const sign = offset >= 0 ? "+" : "-";
      const utcOffset = "UTC" + sign + pad(Math.floor(Math.abs(offset) / 60)) + ":" + pad(Math.abs(offset) % 60);
      element.textContent = moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" + pad(moment.getDate()) +
        " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes()) + " " + (zone ? zone + " (" + utcOffset + ")" : utcOffset);
      element.title = moment.toISOString().replace(".000Z", "Z") + " (UTC)";
    });
  }
  document.addEventListener("DOMContentLoaded", () => localTimes(document));
  document.addEventListener("htmx:afterSettle", (event) => localTimes(event.target));
})();

// Boxes that scroll (code, wide tables) take the keyboard focus, so they can be scrolled
// without a mouse; they are named for screen readers.
(function () {
  "use strict";
  function focusableScrollers(root) {
    root.querySelectorAll("pre, .table-wrap").forEach((box) => {
      const scrolls = box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        if (!box.hasAttribute("aria-label") && box.tagName !== "PRE") {
          box.setAttribute("role", "region");
          box.setAttribute("aria-label", "Scrollable table");
        }
      }
    });
  }
  document.addEventListener("DOMContentLoaded", () => focusableScrollers(document));
  document.addEventListener("htmx:afterSettle", (event) => focusableScrollers(event.target));
  window.addEventListener("resize", () => focusableScrollers(document));
})();

// CSV previews: the viewer decides whether the first row names the columns.
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-toggle-header]");
  if (!button) return;
  const wrap = button.closest("p").previousElementSibling;
  const table = wrap && wrap.querySelector("table[data-header-table]");
  if (!table) return;
  const body = table.tBodies[0];
  const swap = (row, tag) => {
    const fresh = document.createElement("tr");
    [...row.cells].forEach((cell) => {
      const made = document.createElement(tag);
      if (tag === "th") made.scope = "col";
      made.textContent = cell.textContent;
      fresh.appendChild(made);
    });
    return fresh;
  };
  if (table.tHead) {
    body.insertBefore(swap(table.tHead.rows[0], "td"), body.firstChild);
    table.deleteTHead();
    button.textContent = "The first row names the columns";
    button.setAttribute("aria-pressed", "false");
  } else if (body.rows.length) {
    const head = table.createTHead();
    head.appendChild(swap(body.rows[0], "th"));
    body.deleteRow(0);
    button.textContent = "The first row is data, not names";
    button.setAttribute("aria-pressed", "true");
  }
});
