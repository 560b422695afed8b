// Live mode with Stripe: the card is typed into Stripe's own field (Stripe.js), so the number never reaches
// Cloudseat; the form posts the PaymentMethod id Stripe returns, which the server attaches and charges.
document.querySelectorAll("[data-stripe-key]").forEach((mount) => {
  const stripe = window.Stripe(mount.dataset.stripeKey);
  const card = stripe.elements().create("card");
  card.mount(mount);
  const form = mount.closest("form");
  const message = form.querySelector(".stripe-error");
  form.addEventListener("submit", async (event) => {
    const field = form.querySelector("input[name=payment_method]");
    const saved = form.querySelector("input[name=payment_method_id]:checked");
    if (field.value || (saved && saved.value !== "new")) return;
    event.preventDefault();
    const { paymentMethod, error } = await stripe.createPaymentMethod({ type: "card", card });
    if (error) {
      message.textContent = error.message;
      return;
    }
    field.value = paymentMethod.id;
    form.submit();
  });
});
