// packager: download every file of a share from the browser, keeping package paths.
// With the File System Access API (showDirectoryPicker) the bytes stream from storage
// (through the share's resolve links) into the folder the person picks; files already
// there at their full size are skipped, so running it again resumes. Elsewhere it writes a
// script for the person's system (bash + curl, or PowerShell) that does the same.
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
    for (const entry of entries) {
      const { folder, name } = await folderFor(root, entry.path);
      if (await sizeOf(folder, name) === entry.size) {
        skipped += 1; files += 1; done += entry.size; show();
        continue;
      }
      try {
        const response = await fetch(entry.url, { credentials: "same-origin" });
        if (!response.ok || !response.body) throw new Error(String(response.status));
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

  function quoted(text, quote) {
    return quote + text.split(quote).join(quote === "'" ? "'\\''" : "''") + quote;
  }

  function script(kind, entries, slug) {
    if (kind === "powershell") {
      const lines = ["# Downloads every file of this share into .\\" + slug + " (run again to resume).",
        "$ErrorActionPreference = 'Stop'", "$files = @("];
      entries.forEach((entry) => lines.push("  @(" + quoted(entry.path, "'") + ", " + entry.size + ", " + quoted(entry.url, "'") + ")"));
      lines.push(")", "foreach ($file in $files) {",
        "  $target = Join-Path '" + slug + "' $file[0]",
        "  if ((Test-Path -LiteralPath $target) -and ((Get-Item -LiteralPath $target).Length -eq $file[1])) { continue }",
        "  New-Item -ItemType Directory -Force -Path (Split-Path -Parent $target) | Out-Null",
        "  Invoke-WebRequest -Uri $file[2] -OutFile $target",
        "}");
      return lines.join("\r\n") + "\r\n";
    }
    const lines = ["#!/usr/bin/env bash", "# Downloads every file of this share into ./" + slug + " (run again to resume).",
      "set -euo pipefail", "fetch() {",
      "  local path=\"" + slug + "/$1\" size=\"$2\" url=\"$3\"",
      "  if [ -f \"$path\" ] && [ \"$(wc -c < \"$path\" | tr -d ' ')\" = \"$size\" ]; then return; fi",
      "  mkdir -p \"$(dirname \"$path\")\"",
      "  curl -fsSL --retry 3 -C - -o \"$path\" \"$url\" || curl -fsSL --retry 3 -o \"$path\" \"$url\"",
      "}"];
    entries.forEach((entry) => lines.push("fetch " + quoted(entry.path, "'") + " " + entry.size + " " + quoted(entry.url, "'")));
    lines.push("echo \"Done: " + entries.length + " files in " + slug + "/\"");
    return lines.join("\n") + "\n";
  }

  async function saveScript(section, kind) {
    const status = section.querySelector("[data-download-status]");
    section.querySelector("[data-download-progress]").hidden = false;
    let entries;
    try { entries = await manifest(section); } catch (error) { status.textContent = error.message; return; }
    const slug = section.dataset.slug || "package";
    const body = script(kind, entries, slug);
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
