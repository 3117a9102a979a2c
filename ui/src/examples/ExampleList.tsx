import { EXAMPLES, type Example } from "./examples";

/** The sample problems as picture cards; choosing one fills the composer with it. */
export function ExampleList({ onTry }: { onTry: (example: Example) => void }) {
  return (
    <section className="examples" aria-labelledby="examples-title">
      <h2 className="examples__title" id="examples-title">
        Try an example
      </h2>
      <ul className="examples__list">
        {EXAMPLES.map((example) => (
          <li key={example.id}>
            <button
              type="button"
              className="examples__card"
              data-testid="example"
              data-id={example.id}
              title={example.question}
              onClick={() => onTry(example)}
            >
              <img className="examples__picture" src={`/${example.file}`} alt="" />
              <span className="examples__name">{example.title}</span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
