// The console's only script: live progress on the pairing, reshare and keys
// pages, by polling the console's JSON endpoints. Everything else is plain
// HTML forms, so the pages work (without live updates) with scripts off.
"use strict";

(function () {
  const interval = Number(document.body.dataset.poll) || 1000;

  async function getJSON(url) {
    const resp = await fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } });
    if (resp.status === 401) {
      window.location.assign("/login");
      throw new Error("signed out");
    }
    if (!resp.ok) {
      throw new Error("HTTP " + resp.status);
    }
    return resp.json();
  }

  // poll calls step every interval until it returns true. Each answer
  // applied counts in el's data-polls attribute (tests read it).
  function poll(el, step) {
    const tick = async function () {
      let done = false;
      try {
        done = await step();
        el.dataset.polls = String((Number(el.dataset.polls) || 0) + 1);
      } catch (e) {
        done = e.message === "signed out";
      }
      if (!done) {
        window.setTimeout(tick, interval);
      }
    };
    tick();
  }

  function setText(el, text) {
    if (el) {
      el.textContent = text;
    }
  }

  // Pairing: wait for the device to enrol, then show its short
  // authentication string and the approval form.
  function pairing(box) {
    const name = box.dataset.name;
    const expires = Number(box.dataset.expires);
    const state = document.getElementById("pair-state");
    poll(box, async function () {
      const s = await getJSON("/api/pairing?name=" + encodeURIComponent(name));
      if (s.status === "waiting" && Date.now() > expires) {
        state.className = "state";
        setText(state, "The code has expired before " + name + " enrolled: pair it again.");
        return true;
      }
      if (s.status === "pending") {
        state.className = "state pending";
        setText(state, name + " has enrolled and waits for your approval.");
        setText(document.getElementById("pair-sas"), s.sas);
        document.getElementById("pair-sas-box").hidden = false;
        return false; // keep watching: it may be approved elsewhere
      }
      if (s.status === "active") {
        state.className = "state done";
        setText(state, name + " is approved" + (s.online ? " and online." : "."));
        document.getElementById("pair-sas-box").hidden = true;
        return true;
      }
      return false;
    });
  }

  // Reshares after a revocation: one row per key, updated in place.
  function reshares(box) {
    if (box.dataset.finished === "true") {
      return;
    }
    const keys = box.dataset.keys;
    poll(box, async function () {
      const s = await getJSON("/api/reshares?keys=" + encodeURIComponent(keys));
      for (const j of s.jobs) {
        const row = box.querySelector('tr[data-key="' + CSS.escape(j.key_id) + '"]');
        if (!row) {
          continue;
        }
        const badge = row.querySelector(".job-state");
        badge.className = "badge job-state " + j.state;
        setText(badge, j.state);
        setText(row.querySelector(".job-committee"), j.new_committee);
        setText(row.querySelector(".job-epoch"), j.state === "done" ? String(j.epoch) : "");
        setText(row.querySelector(".job-detail"), j.detail + (j.attempts > 1 ? " (attempt " + j.attempts + ")" : ""));
      }
      document.getElementById("reshares-done").hidden = !s.finished;
      document.getElementById("reshares-running").hidden = s.finished;
      return s.finished;
    });
  }

  // A drill running: reload the Keys page when it has finished.
  function drill(el) {
    poll(el, async function () {
      const s = await getJSON("/api/drill?key=" + encodeURIComponent(el.dataset.drill));
      if (!s.running) {
        window.location.reload();
        return true;
      }
      return false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const pair = document.getElementById("pair-status");
    if (pair) {
      pairing(pair);
    }
    const jobs = document.getElementById("reshares");
    if (jobs) {
      reshares(jobs);
    }
    document.querySelectorAll("[data-drill]").forEach(drill);
  });
})();
