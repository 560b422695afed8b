// Page behaviour that would otherwise be inline (onclick/onsubmit attributes): the Content-Security-Policy
// allows scripts from /static only. Listeners sit on the document, so content htmx swaps in works too.

// A seat stepper's − and + buttons: one step within the field's min and max, then an `input` event so the
// field's htmx preview follows.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-step]");
  if (!button) return;
  const field = button.form && button.form.elements.quantity;
  if (!field) return;
  const next = Number(field.value) + Number(button.dataset.step);
  if ((field.min !== "" && next < Number(field.min)) || (field.max !== "" && next > Number(field.max))) return;
  field.value = String(next);
  field.dispatchEvent(new Event("input", { bubbles: true }));
});

// A form that asks before it does something that cannot be undone.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
