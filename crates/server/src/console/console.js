// Small progressive enhancements; every page works without them.
document.addEventListener("change", (e) => {
  if (e.target.matches("[data-autosubmit]")) e.target.form.submit();
});
document.addEventListener("click", (e) => {
  const copy = e.target.closest("[data-copy]");
  if (copy) {
    navigator.clipboard?.writeText(copy.dataset.copy);
    copy.textContent = "Copied";
  }
});
// My device: refetch without leaving the page, then wait for new results.
document.addEventListener("submit", async (e) => {
  const form = e.target;
  if (!form.matches("[data-refetch]")) return;
  e.preventDefault();
  const status = document.getElementById("refetch-status");
  const button = form.querySelector("button");
  button.disabled = true;
  status.textContent = "Refetching…";
  const api = form.dataset.refetch;
  const before = (await (await fetch(api)).json()).host?.policy_updated_at;
  await fetch(api + "/refetch", { method: "POST" });
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 2000));
    const host = (await (await fetch(api)).json()).host || {};
    if (!host.refetch_requested && host.policy_updated_at !== before) {
      status.textContent = "Updated. Reloading…";
      location.reload();
      return;
    }
    status.textContent = "Waiting for the device to answer… (" + (i + 1) * 2 + " s)";
  }
  status.textContent = "The device hasn't answered yet; it will when it next checks in.";
  button.disabled = false;
});
