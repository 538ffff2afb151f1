// Shows the console's times in the viewer's own time zone. Without this script they read as UTC.
for (const el of document.querySelectorAll('time[datetime]')) {
  const when = new Date(el.getAttribute('datetime'));
  if (!Number.isNaN(when.getTime()))
    el.textContent = when.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
