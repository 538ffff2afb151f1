import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { PageShapes, personal } from '../../server/http/page-shapes.ts';
import { viewEngine } from '../../server/http/views.ts';

// The rules a kept shape lives by, on templates made for them. (The recipient pages themselves
// are compared both ways in test/integration/page-shapes.test.ts.)
describe('PageShapes', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'pc-shapes-'));
  mkdirSync(path.join(root, 'p'));
  const views: Record<string, string> = {
    printed:
      '<p title="<%= who %>"><%= greeting %>, <%= who %>!</p><% for (const x of list) { %><i><%= x %></i><% } %>',
    optional: '<% if (name) { %><b><%= name %> · </b><% } %><p><%= email %></p>',
    inspected: '<p><%= who.toUpperCase() %></p>',
    lengthy: '<p><%= who.length > 5 ? "long" : "short" %> <%= who %></p>',
    raw: '<p><%- who %></p>',
    dated: '<p><%= when.format(new Date(0)) %> <%= who %></p>',
  };
  for (const [name, text] of Object.entries(views)) writeFileSync(path.join(root, 'p', `${name}.ejs`), text);
  const engine = viewEngine(root, () => true);
  const warned: string[] = [];
  const make = (max?: number) =>
    new PageShapes({ render: engine.render, enabled: () => true, max, onWhole: (v) => warned.push(v) });
  const text = (page: string | Buffer) => (typeof page === 'string' ? page : page.toString('utf8'));

  it('fills a kept shape with each person’s strings, escaped as <%= %> escapes them', () => {
    const shapes = make();
    const page = (who: string, greeting = 'Hello') =>
      text(shapes.render('p/printed', { who: personal(who), greeting, list: ['a', personal(who)] }, true));
    expect(page('Ann')).to.equal('<p title="Ann">Hello, Ann!</p><i>a</i><i>Ann</i>');
    expect(page('Bo')).to.equal('<p title="Bo">Hello, Bo!</p><i>a</i><i>Bo</i>');
    // Seen, then kept (rendered with markers, and whole to prove the fill).
    expect(shapes.counts).to.deep.equal({ whole: 2, filled: 0, kept: 1 });
    expect(page(`"Cy" <b>&'`)).to.equal(
      '<p title="&#34;Cy&#34; &lt;b&gt;&amp;&#39;">Hello, &#34;Cy&#34; &lt;b&gt;&amp;&#39;!</p><i>a</i><i>&#34;Cy&#34; &lt;b&gt;&amp;&#39;</i>',
    );
    expect(page('Dé •')).to.equal('<p title="Dé •">Hello, Dé •!</p><i>a</i><i>Dé •</i>');
    expect(shapes.counts.filled).to.equal(2);
    // What is not personal is the shape: another greeting is another page.
    expect(page('Ed', 'Hi')).to.equal('<p title="Ed">Hi, Ed!</p><i>a</i><i>Ed</i>');
    expect(shapes.counts.filled).to.equal(2);
  });

  it('keeps an empty personal string apart from a filled one (if (name) still works)', () => {
    const shapes = make();
    const page = (name: string | null, email: string) =>
      text(shapes.render('p/optional', { name: personal(name), email: personal(email) }, true));
    for (let i = 0; i < 3; i++) {
      expect(page(null, `a${i}@x`)).to.equal(`<p>a${i}@x</p>`);
      expect(page(`N${i}`, `b${i}@x`)).to.equal(`<b>N${i} · </b><p>b${i}@x</p>`);
      expect(page('', `c${i}@x`)).to.equal(`<p>c${i}@x</p>`);
    }
    expect(shapes.counts.filled).to.be.greaterThan(0);
  });

  it('renders whole, and says so once, a template that inspects or prints raw a personal string', () => {
    for (const view of ['p/inspected', 'p/raw']) {
      const shapes = make();
      const page = (who: string) => text(shapes.render(view, { who: personal(who) }, true));
      expect(page('ann')).to.equal(view === 'p/raw' ? '<p>ann</p>' : '<p>ANN</p>');
      expect(page('<bo>')).to.equal(view === 'p/raw' ? '<p><bo></p>' : '<p>&lt;BO&gt;</p>');
      expect(page('cy')).to.equal(view === 'p/raw' ? '<p>cy</p>' : '<p>CY</p>');
      expect(shapes.counts.filled).to.equal(0);
      expect(warned.filter((v) => v === view)).to.have.length(1);
    }
  });

  it('renders whole a page with something a key cannot describe (an Intl formatter)', () => {
    const shapes = make();
    const when = new Intl.DateTimeFormat('en', { dateStyle: 'long', timeZone: 'UTC' });
    for (let i = 0; i < 3; i++)
      expect(text(shapes.render('p/dated', { when, who: personal(`p${i}`) }, true))).to.equal(
        `<p>January 1, 1970 p${i}</p>`,
      );
    expect(shapes.counts).to.deep.equal({ whole: 3, filled: 0, kept: 0 });
  });

  it('is only as right as its contract: a template that branches on a personal string’s content', () => {
    // The proof taken when a shape is kept catches a first person whose page differs from the
    // marked rendering (a short name: the marker is long)...
    const caught = make();
    const page = (shapes: PageShapes, who: string) =>
      text(shapes.render('p/lengthy', { who: personal(who) }, true));
    page(caught, 'ann');
    page(caught, 'bo');
    expect(page(caught, 'cy')).to.equal('<p>short cy</p>');
    expect(caught.counts.filled).to.equal(0);
    // ...but not one whose page happens to match it: from then on a short name reads "long".
    // This is why a personal string may only be printed; the recipient pages' templates keep to
    // it, and the integration test renders each of their states both ways.
    const missed = make();
    page(missed, 'dorothea');
    page(missed, 'dorothea');
    expect(page(missed, 'cy')).to.equal('<p>long cy</p>');
  });

  it('renders whole when not asked to shape, or when disabled, and forgets the oldest shapes first', () => {
    const off = new PageShapes({ render: engine.render, enabled: () => false });
    for (let i = 0; i < 3; i++)
      off.render('p/printed', { who: personal('a'), greeting: 'x', list: [] }, true);
    const unshaped = make();
    for (let i = 0; i < 3; i++) unshaped.render('p/printed', { who: personal('a'), greeting: 'x', list: [] });
    expect([off.counts.filled, unshaped.counts.filled]).to.deep.equal([0, 0]);

    const small = make(2);
    const page = (greeting: string) =>
      small.render('p/printed', { who: personal('a'), greeting, list: [] }, true);
    page('one');
    page('one'); // kept
    page('two'); // seen
    page('three'); // seen: "one" is forgotten
    page('one');
    expect(small.counts.filled).to.equal(0);
  });
});
