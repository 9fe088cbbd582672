// Age-restricted videos stay blurred until someone chooses to see one.
document.addEventListener("click", (event) => {
  const button = event.target.closest(".reveal");
  if (button) {
    button.closest(".adult")?.classList.add("revealed");
    button.remove();
  }
});
