// packager: download every file of a share from the browser, keeping package paths.
// With the File System Access API (showDirectoryPicker) the bytes stream from storage
// (through the share's resolve links) into the folder the person picks; files already
// there at their full size are skipped, so running it again resumes. Elsewhere it writes a
// script for the person's system (bash + curl, or PowerShell) that does the same.
// A storage service whose CORS rules do not allow this site answers, but the browser hides
// the answer: the page then says so (and points at the scripts) rather than failing file
// after file. A password share's scripts ask for the password when they run and trade it
// for the key link, so neither the file nor any URL holds it and storage never receives it.
(function () {
  "use strict";

  async function manifest(section) {
    const response = await fetch(section.dataset.manifest, { credentials: "same-origin" });
    if (!response.ok) throw new Error("The file list could not be read (" + response.status + ").");
    const text = await response.text();
    return text.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
  }

  function human(bytes) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return (unit ? value.toFixed(1) : String(value)) + " " + units[unit];
  }

  function duration(seconds) {
    if (seconds < 60) return Math.max(1, Math.round(seconds)) + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  async function folderFor(root, path) {
    const parts = path.split("/");
    const name = parts.pop();
    let folder = root;
    for (const part of parts) folder = await folder.getDirectoryHandle(part, { create: true });
    return { folder, name };
  }

  async function sizeOf(folder, name) {
    try {
      const handle = await folder.getFileHandle(name);
      return (await handle.getFile()).size;
    } catch (error) {
      return -1;
    }
  }

  async function intoFolder(section) {
    const status = section.querySelector("[data-download-status]");
    const bar = section.querySelector("progress");
    section.querySelector("[data-download-progress]").hidden = false;
    let root;
    try {
      root = await window.showDirectoryPicker({ mode: "readwrite" });
    } catch (error) {
      status.textContent = "No folder was chosen.";
      return;
    }
    let entries;
    try { entries = await manifest(section); } catch (error) { status.textContent = error.message; return; }
    const total = entries.reduce((sum, entry) => sum + entry.size, 0);
    bar.max = Math.max(total, 1);
    let done = 0, fetched = 0, skipped = 0, failed = 0, files = 0;
    const started = performance.now();
    const show = () => {
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0.5 ? fetched / seconds : 0;
      const left = rate > 0 ? " · about " + duration((total - done) / rate) + " left" : "";
      bar.value = done;
      status.textContent = files + " of " + entries.length + " files · " + human(done) + " of " + human(total) +
        (rate ? " · " + human(rate) + "/s" : "") + left + (skipped ? " · " + skipped + " already there" : "") +
        (failed ? " · " + failed + " failed" : "");
    };
    section.querySelector("[data-download-refused]").hidden = true;
    for (const entry of entries) {
      const { folder, name } = await folderFor(root, entry.path);
      if (await sizeOf(folder, name) === entry.size) {
        skipped += 1; files += 1; done += entry.size; show();
        continue;
      }
      let response;
      try {
        response = await fetch(entry.url, { credentials: "same-origin" });
      } catch (error) {
        if (await storageRefusesThisSite(entry.url)) {
          refused(section);
          status.textContent = "Stopped: the storage service does not allow downloads from this page. " +
            status.textContent;
          return;
        }
        response = null;
      }
      try {
        if (!response || !response.ok || !response.body) throw new Error(response ? String(response.status) : "network");
        const handle = await folder.getFileHandle(name, { create: true });
        const writable = await handle.createWritable();
        const reader = response.body.getReader();
        for (;;) {
          const { done: finished, value } = await reader.read();
          if (finished) break;
          await writable.write(value);
          done += value.length; fetched += value.length; show();
        }
        await writable.close();
      } catch (error) {
        failed += 1;
      }
      files += 1; show();
    }
    status.textContent = (failed ? "Finished with " + failed + " failed file" + (failed > 1 ? "s" : "") +
      ": run it again to retry them. " : "Done: every file is in the folder. ") + status.textContent;
  }

  // A fetch that fails outright is a network failure or a CORS refusal; the browser tells
  // them apart for no script. The same request without CORS (an opaque answer, which the
  // page may not read) gets through only when the storage service answered: then what
  // failed was its permission for this origin.
  async function storageRefusesThisSite(url) {
    try {
      await fetch(url, { method: "HEAD", mode: "no-cors", credentials: "same-origin" });
      return true;
    } catch (error) {
      return false;
    }
  }

  function refused(section) {
    const box = section.querySelector("[data-download-refused]");
    box.querySelector("[data-site-origin]").textContent = window.location.origin;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }

  function quoted(text, quote) {
    return quote + text.split(quote).join(quote === "'" ? "'\\''" : "''") + quote;
  }

  // The scripts name files by their link under the share's address (`share`); a password
  // share's script asks for the password, gets the key link for it from `<share>key` (the
  // password goes to packager only, in a request body of curl's, never on a command line)
  // and fetches every file under the key link, which needs no credentials at all.
  function script(kind, entries, slug, share, asksPassword) {
    const relative = (entry) => entry.url.startsWith(share) ? entry.url.slice(share.length) : entry.url;
    if (kind === "powershell") {
      const lines = ["# Downloads every file of this share into .\\" + slug + " (run again to resume).",
        "$ErrorActionPreference = 'Stop'", "$ProgressPreference = 'SilentlyContinue'",
        "$share = " + quoted(share, "'"), "$base = $share"];
      if (asksPassword) {
        lines.push("# This share has a password: asked for here (or $env:SHARE_PASSWORD), traded once for its key link.",
          "$password = $env:SHARE_PASSWORD",
          "if (-not $password) { $password = [Net.NetworkCredential]::new('', (Read-Host 'Password of this share' -AsSecureString)).Password }",
          "$basic = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('share:' + $password))",
          "$base = ([string](Invoke-WebRequest -UseBasicParsing -Uri ($share + 'key') -Headers @{ Authorization = 'Basic ' + $basic }).Content).Trim()");
      }
      lines.push("$files = @(");
      entries.forEach((entry) => lines.push("  ,@(" + quoted(entry.path, "'") + ", " + entry.size + ", " + quoted(relative(entry), "'") + ")"));
      lines.push(")", "foreach ($file in $files) {",
        "  $target = Join-Path '" + slug + "' $file[0]",
        "  if ((Test-Path -LiteralPath $target) -and ((Get-Item -LiteralPath $target).Length -eq $file[1])) { continue }",
        "  New-Item -ItemType Directory -Force -Path (Split-Path -Parent $target) | Out-Null",
        "  Invoke-WebRequest -UseBasicParsing -Uri ($base + $file[2]) -OutFile $target",
        "}");
      return lines.join("\r\n") + "\r\n";
    }
    const lines = ["#!/usr/bin/env bash", "# Downloads every file of this share into ./" + slug + " (run again to resume).",
      "set -euo pipefail", "share=" + quoted(share, "'"), "base=\"$share\""];
    if (asksPassword) {
      lines.push("# This share has a password: asked for here (or read from SHARE_PASSWORD) and traded once",
        "# for the share's key link, under which every file downloads with no credentials.",
        "if [ -z \"${SHARE_PASSWORD:-}\" ]; then",
        "  read -rsp 'Password of this share: ' SHARE_PASSWORD; echo >&2",
        "fi",
        "escaped=${SHARE_PASSWORD//\\\\/\\\\\\\\}; escaped=${escaped//\\\"/\\\\\\\"}",
        "if ! base=$(printf 'user = \"share:%s\"\\n' \"$escaped\" | curl -fsS --config - \"${share}key\"); then",
        "  echo 'The share refused that password (or is locked for a while): nothing was downloaded.' >&2; exit 1",
        "fi",
        "unset SHARE_PASSWORD escaped");
    }
    lines.push("fetch() {",
      "  local path=\"" + slug + "/$1\" size=\"$2\" url=\"$base$3\"",
      "  if [ -f \"$path\" ] && [ \"$(wc -c < \"$path\" | tr -d ' ')\" = \"$size\" ]; then return; fi",
      "  mkdir -p \"$(dirname \"$path\")\"",
      "  curl -fsSL --retry 3 -C - -o \"$path\" \"$url\" || curl -fsSL --retry 3 -o \"$path\" \"$url\"",
      "}");
    entries.forEach((entry) => lines.push("fetch " + quoted(entry.path, "'") + " " + entry.size + " " + quoted(relative(entry), "'")));
    lines.push("echo \"Done: " + entries.length + " files in " + slug + "/\"");
    return lines.join("\n") + "\n";
  }

  async function saveScript(section, kind) {
    const status = section.querySelector("[data-download-status]");
    section.querySelector("[data-download-progress]").hidden = false;
    let entries;
    try { entries = await manifest(section); } catch (error) { status.textContent = error.message; return; }
    const slug = section.dataset.slug || "package";
    const body = script(kind, entries, slug, section.dataset.shareUrl, section.hasAttribute("data-asks-password"));
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([body], { type: "text/plain" }));
    link.download = kind === "powershell" ? "download-" + slug + ".ps1" : "download-" + slug + ".sh";
    document.body.appendChild(link);
    link.click();
    link.remove();
    status.textContent = "Saved " + link.download + ": run it " + (kind === "powershell"
      ? "in PowerShell (powershell -ExecutionPolicy Bypass -File " + link.download + ")."
      : "with bash " + link.download + ".");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("download-all");
    if (!section) return;
    const picker = typeof window.showDirectoryPicker === "function";
    section.querySelector("[data-download-folder]").hidden = !picker;
    section.querySelector("[data-no-folder-picker]").hidden = picker;
    section.addEventListener("click", (event) => {
      const folderButton = event.target.closest("[data-download-folder]");
      const scriptButton = event.target.closest("[data-download-script]");
      if (folderButton) intoFolder(section);
      if (scriptButton) saveScript(section, scriptButton.dataset.downloadScript);
    });
  });
})();
