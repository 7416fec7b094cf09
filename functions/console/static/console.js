// grantdesk console: the ticket picker's search-as-you-type and the ticket dialogs.
// Every form works without this script; it only adds suggestions and opens dialogs.
"use strict";

document.addEventListener("click", (event) => {
  const opener = event.target.closest("button[data-dialog]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.dialog);
    if (dialog && typeof dialog.showModal === "function") dialog.showModal();
  }
});

for (const input of document.querySelectorAll("input[data-picker]")) {
  const provider = document.getElementById(input.dataset.picker);
  const list = document.getElementById(input.getAttribute("list"));
  const status = document.getElementById("ticket-picker-status");
  let timer = null;
  let asked = 0;
  const search = async () => {
    const q = input.value.trim();
    if (!provider.value || q.length < 2) return;
    const mine = ++asked;
    const url = `/console/tickets/search?provider=${encodeURIComponent(provider.value)}&q=${encodeURIComponent(q)}`;
    try {
      const answer = await (await fetch(url, { credentials: "same-origin" })).json();
      if (mine !== asked) return;
      list.replaceChildren(...(answer.items || []).map((t) => {
        const option = document.createElement("option");
        option.value = t.key;
        option.label = `${t.key}: ${t.title} (${t.state})`;
        return option;
      }));
      status.textContent = answer.error ? answer.error : `${(answer.items || []).length} open tickets match`;
    } catch (_) {
      status.textContent = "Search is unavailable; type the ticket's key.";
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
}
