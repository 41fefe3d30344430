// Drives the learner page in Debian's headless Chromium at a phone-sized viewport:
// error states (a bad token, a bad learner id, a real 429 with its Retry-After), dev
// sign-in, a lesson, its quiz, progress moving, reload and sign-out.
//
// Run by tests/e2e/browser.rs with NODE_PATH pointing at the provisioned node_modules.
// Inputs (environment): LEARNFLOW_GATEWAY (base URL), LEARNFLOW_CHROMIUM (browser binary),
// LEARNFLOW_LEARNER (learner id to sign in as), LEARNFLOW_SCREENSHOT (PNG to write;
// -wide, -dark, -signin and, on failure, -failure variants go beside it).
// Output: a last stdout line `RESULT {json}` with what the page recorded; exit 0 on success.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

const gateway = need('LEARNFLOW_GATEWAY');
const executablePath = need('LEARNFLOW_CHROMIUM');
const learner = need('LEARNFLOW_LEARNER');
const screenshot = need('LEARNFLOW_SCREENSHOT');

// Flags for a closed network: no first-run, sync, component or background traffic.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function main() {
  // A fresh profile every run (Playwright passes it to Chromium as --user-data-dir).
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'learnflow-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ARGS,
    viewport: { width: 375, height: 812 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
  });
  const problems = [];
  let page;
  try {
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(30000);
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // Refused requests (401, 404, 422) are expected and logged by Chromium as errors;
      // anything else, in particular a Content-Security-Policy violation, is a failure.
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) {
        problems.push(`console error: ${message.text()}`);
      }
    });
    const result = await run(page);
    check(problems.length === 0, `no script errors or policy violations: ${problems.join('; ')}`);
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } catch (error) {
    if (page) {
      await page
        .screenshot({ path: sibling('failure'), fullPage: true })
        .catch(() => {});
    }
    if (problems.length) process.stderr.write(`${problems.join('\n')}\n`);
    throw error;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// Another artifact next to the main screenshot: learner-page-<name>.png.
function sibling(name) {
  return screenshot.replace(/\.png$/, `-${name}.png`);
}

async function alertText(page) {
  await page.locator('#alert').waitFor({ state: 'visible' });
  return (await page.locator('#alert').innerText()).trim();
}

async function run(page) {
  await page.goto(gateway + '/');
  await page.locator('body[data-ready="true"]').waitFor();
  check((await page.title()) === 'LearnFlow', 'page title');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 375, `no horizontal scrolling at 375 px (content is ${width} px wide)`);

  // Error state 1: a pasted token that is not a token.
  await page.getByLabel('Bearer token (JWT)').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in with token' }).click();
  const badToken = await alertText(page);
  check(/not accepted/.test(badToken) && /malformed/.test(badToken), `bad token message: ${badToken}`);
  check(await page.locator('#signin').isVisible(), 'still signed out after a bad token');

  // Error state 2: a learner id the gateway refuses (422, field named).
  await page.getByLabel('Learner id').fill('not a valid id!');
  await page.getByRole('button', { name: 'Get a dev token and sign in' }).click();
  await page.locator('#alert li').waitFor();
  const badId = await alertText(page);
  check(/learner/.test(badId), `bad learner id message: ${badId}`);

  // Dev sign-in.
  await page.getByLabel('Learner id').fill(learner);
  await page.getByRole('button', { name: 'Get a dev token and sign in' }).click();
  await page.locator('#who-name', { hasText: learner }).waitFor();
  check(await page.locator('#alert').isHidden(), 'the earlier error is cleared');
  check(await page.locator('#progress-empty').isVisible(), 'empty progress is explained');
  check((await page.locator('#stat-completed').innerText()) === '0', 'nothing completed yet');

  // Courses come from the API document.
  const courses = await page.locator('#course option').evaluateAll((os) => os.map((o) => o.value));
  check(courses.includes('arithmetic') && courses.length >= 3, `course options: ${courses}`);
  await page.getByLabel('Course').selectOption('arithmetic');

  // Generate a lesson; keep the API's answer to know the quiz's right answers.
  const created = page.waitForResponse(
    (r) => r.url().endsWith('/api/v1/lessons') && r.request().method() === 'POST',
  );
  await page.getByRole('button', { name: 'Generate lesson' }).click();
  const lessonResponse = await created;
  check(lessonResponse.status() === 201, `lesson created (${lessonResponse.status()})`);
  const lesson = await lessonResponse.json();
  await page.locator('#lesson').waitFor({ state: 'visible' });
  check((await page.locator('#lesson-title').innerText()) === lesson.topic_title, 'lesson title');
  check((await page.locator('#lesson-crumbs').innerText()).includes('Arithmetic'), 'course shown');
  check((await page.locator('#explanation-body p').count()) >= 1, 'explanation rendered');
  check(
    (await page.locator('#example-steps li').count()) === lesson.worked_example.steps.length,
    'worked example steps rendered',
  );
  check((await page.locator('#exercise-list li').count()) === lesson.exercises.length, 'exercises rendered');
  const questions = lesson.quiz.length;
  check(questions >= 2, `a quiz of at least two questions (${questions})`);
  check((await page.locator('#quiz-items fieldset').count()) === questions, 'quiz rendered');
  check(
    await page.locator('#lesson-title').evaluate((el) => el === document.activeElement),
    'focus moves to the new lesson',
  );

  // Submitting with open questions is refused with a message.
  await page.getByRole('button', { name: 'Submit answers' }).click();
  check(/Answer every question/.test(await alertText(page)), 'open questions are named');

  // Answer: the first by keyboard (Space picks, arrow keys move the selection), the others by
  // clicking; all right but the last, so the score is (n-1)/n.
  await page.locator('#q0-c0').focus();
  await page.keyboard.press('Space');
  for (let i = 0; i < lesson.quiz[0].answer_index; i += 1) await page.keyboard.press('ArrowDown');
  check(
    await page.locator(`#q0-c${lesson.quiz[0].answer_index}`).isChecked(),
    'keyboard selects the first answer',
  );
  let right = 1;
  for (let i = 1; i < questions; i += 1) {
    const item = lesson.quiz[i];
    const pick = i === questions - 1 ? (item.answer_index + 1) % item.choices.length : item.answer_index;
    if (pick === item.answer_index) right += 1;
    await page.locator(`label[for="q${i}-c${pick}"]`).click();
  }
  const score = right / questions;

  const completed = page.waitForResponse((r) => r.url().endsWith('/completion'));
  await page.getByRole('button', { name: 'Submit answers' }).click();
  const completionResponse = await completed;
  check(completionResponse.status() === 200, `completion recorded (${completionResponse.status()})`);
  const sent = JSON.parse(completionResponse.request().postData() || '{}');
  check(Math.abs(sent.score - score) < 1e-9, `score sent ${sent.score}, expected ${score}`);
  const recorded = await completionResponse.json();
  await page.locator('#quiz-result').waitFor({ state: 'visible' });
  const resultText = await page.locator('#quiz-result').innerText();
  check(resultText.includes(`You scored ${right} of ${questions}`), `result: ${resultText}`);
  check(
    (await page.locator('.choice.wrong').count()) === 1 && (await page.locator('.choice.right').count()) === questions,
    'answers are marked right and wrong',
  );

  // Progress shows the completion and the topic's new mastery, marked as changed.
  const key = `${lesson.course}/${lesson.topic}`;
  await page.locator('#stat-completed', { hasText: /^1$/ }).waitFor();
  const row = page.locator(`#mastery li[data-topic="${key}"].changed`);
  await row.waitFor();
  const shown = Number(await row.getAttribute('data-mastery'));
  check(Math.abs(shown - recorded.mastery_after) < 1e-3, `mastery shown ${shown}, recorded ${recorded.mastery_after}`);
  check(recorded.mastery_after !== recorded.mastery_before, 'mastery moved');
  check(await row.locator('.delta').isVisible(), 'the change is shown');
  check(await page.locator('#progress-empty').isHidden(), 'no empty-state text once there is progress');
  // The lesson event reaches user-progress through Kafka; the page looks again by itself.
  await page.locator('#stat-received', { hasText: /^[1-9]/ }).waitFor();

  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshot, fullPage: true });
  // The same moment on a desktop-sized window (lesson and progress side by side).
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: sibling('wide'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: sibling('dark'), fullPage: false });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 375, height: 812 });

  // A real 429: keep this learner over the gateway's rate limit from inside the page
  // while pressing Refresh, until the page shows the Retry-After advice (bounded tries).
  // The flood asks for a malformed lesson id: rate-limited like any learner call, but
  // answered (400) without a trip to an internal service, so it outpaces the limit.
  const hammer = page.evaluate(async () => {
    const token = sessionStorage.getItem('learnflow.token');
    const headers = { Authorization: `Bearer ${token}` };
    const seen = {};
    for (let round = 0; round < 5000 && !window.stopHammer; round += 1) {
      const statuses = await Promise.all(
        Array.from({ length: 6 }, () => fetch('/api/v1/lessons/flood', { headers }).then((r) => r.status)),
      );
      for (const s of statuses) seen[s] = (seen[s] || 0) + 1;
    }
    return seen;
  });
  const refresh = page.locator('#refresh');
  let advice = '';
  for (let attempt = 0; attempt < 40 && !/Try again in/.test(advice); attempt += 1) {
    await refresh.click();
    await page.waitForFunction(() => !document.getElementById('refresh').hasAttribute('aria-busy'));
    advice = (await page.locator('#alert').isVisible()) ? await page.locator('#alert').innerText() : '';
    if (!advice) await page.waitForFunction(() => !document.getElementById('refresh').disabled);
  }
  await page.evaluate(() => {
    window.stopHammer = true;
  });
  const seen = await hammer;
  process.stderr.write(`flood answers by status: ${JSON.stringify(seen)}\n`);
  check((seen[429] || 0) > 0, 'the gateway rate-limited the burst');
  check(/going a little fast\. Try again in \d+ s/.test(advice), `rate-limit advice: ${advice}`);
  check(/\(\d+ s\)/.test(await refresh.innerText()), 'Refresh counts down the Retry-After');
  check(await refresh.isDisabled(), 'Refresh waits for the Retry-After');
  // After the wait, the same button works again.
  await page.waitForFunction(() => !document.getElementById('refresh').disabled);
  await refresh.click();
  await page.locator('#status', { hasText: 'Progress updated.' }).waitFor();

  // The session survives a reload (sessionStorage), and sign-out forgets it.
  await page.reload();
  await page.locator('#who-name', { hasText: learner }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#signin').waitFor({ state: 'visible' });
  const stored = await page.evaluate(() => sessionStorage.length);
  check(stored === 0, 'sign-out clears the stored token');
  await page.screenshot({ path: sibling('signin') });

  return {
    learner,
    lesson_id: lesson.id,
    course: lesson.course,
    topic: lesson.topic,
    score,
    mastery_before: recorded.mastery_before,
    mastery_after: recorded.mastery_after,
  };
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    process.exit(1);
  },
);
