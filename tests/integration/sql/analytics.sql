-- A small lending analytics schema: borrowers, their loans and the payments
-- made on them, with a comment on every column (what the schema introspector
-- and the agent read). Deterministic data, no random(): 500 borrowers, 2000
-- loans, 8000 payments, so tests can assert exact counts.
-- Used by the integration tests (tests/integration/harness.py) and scripts/demo.

\set ON_ERROR_STOP on
BEGIN;

CREATE TABLE borrowers (
    borrower_id   integer PRIMARY KEY,
    full_name     text NOT NULL,
    email         text NOT NULL UNIQUE,
    country       char(2) NOT NULL,
    credit_score  smallint NOT NULL CHECK (credit_score BETWEEN 300 AND 850),
    created_at    timestamptz NOT NULL
);
COMMENT ON TABLE borrowers IS 'People and companies that took out at least one loan.';
COMMENT ON COLUMN borrowers.borrower_id IS 'Surrogate key of the borrower.';
COMMENT ON COLUMN borrowers.full_name IS 'Legal name as written on the loan agreement.';
COMMENT ON COLUMN borrowers.email IS 'Contact e-mail address; unique per borrower.';
COMMENT ON COLUMN borrowers.country IS 'ISO 3166-1 alpha-2 country of residence.';
COMMENT ON COLUMN borrowers.credit_score IS 'Credit score at onboarding, 300 (worst) to 850 (best).';
COMMENT ON COLUMN borrowers.created_at IS 'When the borrower was onboarded.';

CREATE TABLE loans (
    loan_id        integer PRIMARY KEY,
    borrower_id    integer NOT NULL REFERENCES borrowers,
    principal      numeric(12,2) NOT NULL CHECK (principal > 0),
    interest_rate  numeric(5,4) NOT NULL,
    term_months    smallint NOT NULL,
    status         text NOT NULL CHECK (status IN ('active', 'paid_off', 'defaulted')),
    originated_on  date NOT NULL
);
CREATE INDEX loans_borrower_id_idx ON loans (borrower_id);
COMMENT ON TABLE loans IS 'One row per loan disbursed.';
COMMENT ON COLUMN loans.loan_id IS 'Surrogate key of the loan.';
COMMENT ON COLUMN loans.borrower_id IS 'Borrower who owes the loan (borrowers.borrower_id).';
COMMENT ON COLUMN loans.principal IS 'Amount disbursed, in EUR.';
COMMENT ON COLUMN loans.interest_rate IS 'Nominal annual interest rate as a fraction (0.0725 = 7.25 %).';
COMMENT ON COLUMN loans.term_months IS 'Agreed duration of the loan in months.';
COMMENT ON COLUMN loans.status IS 'active, paid_off or defaulted.';
COMMENT ON COLUMN loans.originated_on IS 'Date the money was disbursed.';

CREATE TABLE payments (
    payment_id  integer PRIMARY KEY,
    loan_id     integer NOT NULL REFERENCES loans,
    paid_on     date NOT NULL,
    amount      numeric(12,2) NOT NULL CHECK (amount > 0)
);
CREATE INDEX payments_loan_id_idx ON payments (loan_id);
COMMENT ON TABLE payments IS 'Repayments received, one row per transfer.';
COMMENT ON COLUMN payments.payment_id IS 'Surrogate key of the payment.';
COMMENT ON COLUMN payments.loan_id IS 'Loan the payment is booked against (loans.loan_id).';
COMMENT ON COLUMN payments.paid_on IS 'Value date of the transfer.';
COMMENT ON COLUMN payments.amount IS 'Amount received, in EUR.';

INSERT INTO borrowers
SELECT g,
       (ARRAY['Ada', 'Bruno', 'Chiara', 'Dmitri', 'Elif', 'Femi', 'Greta', 'Hiro'])[1 + g % 8]
         || ' ' ||
       (ARRAY['Lovelace', 'Keller', 'Rossi', 'Petrov', 'Yilmaz', 'Okafor', 'Berg', 'Tanaka',
              'Novak', 'Silva', 'Dubois'])[1 + g % 11],
       'borrower' || g || '@example.com',
       (ARRAY['DE', 'FR', 'NL', 'ES', 'IT', 'PL'])[1 + g % 6],
       300 + (g * 37) % 551,
       timestamptz '2020-01-01 00:00:00+00' + (g * 41 % 1500) * interval '1 day'
FROM generate_series(1, 500) AS g;

INSERT INTO loans
SELECT g,
       1 + (g * 7) % 500,
       1000 + (g * 7919) % 49000,
       0.0300 + ((g * 13) % 900) / 10000.0,
       (ARRAY[12, 24, 36, 48, 60])[1 + g % 5],
       CASE WHEN g % 10 < 6 THEN 'active' WHEN g % 10 < 9 THEN 'paid_off' ELSE 'defaulted' END,
       date '2021-01-01' + (g * 17) % 1100
FROM generate_series(1, 2000) AS g;

INSERT INTO payments
SELECT g,
       1 + (g * 3) % 2000,
       date '2021-02-01' + (g * 11) % 1200,
       50 + (g * 31) % 450
FROM generate_series(1, 8000) AS g;

COMMIT;
ANALYZE borrowers, loans, payments;
