"""Build a small Tryton database for the tests, through Tryton's own tools only.

`python -m tests.tryton.build_tryton DIRECTORY NAME [DATABASE_URI]` activates the sale module
(and its dependencies: party, company, product, stock, account, account_invoice) with
`trytond-admin`, and party_relationship (persons related to their employer), then fills it through
proteus (Tryton's client library, so Tryton's rules and defaults apply): a company with a minimal
chart of accounts and a fiscal year, two customers with an address, an e-mail and a phone, three
contact persons (parties related to a customer as "Employee of", with their own e-mail or
phone), two products with codes, and two existing sales — one confirmed (Tryton made its stock
moves and its invoice), one still a draft. It prints what it made as
JSON. Runs in a process of its own: trytond's configuration and pool are process-global.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path


def write_conf(directory: Path, uri: str) -> Path:
    conf = directory / "trytond.conf"
    lines = ["[database]", f"uri = {uri}"]
    if uri.startswith("sqlite"):
        lines.append(f"path = {directory}")
    lines += ["", "[session]", "authentications = password", ""]
    conf.write_text("\n".join(lines))
    return conf


def activate(directory: Path, name: str, uri: str) -> Path:
    conf = write_conf(directory, uri)
    if uri.startswith("sqlite"):
        (directory / f"{name}.sqlite").touch()
    admin = str(Path(sys.executable).with_name("trytond-admin"))
    password = directory / "admin-password"
    password.write_text("admin\n")
    env = {**os.environ, "TRYTONPASSFILE": str(password)}
    base = [admin, "-c", str(conf), "-d", name]
    subprocess.run([*base, "--all", "--email", "admin@example.com"], check=True, env=env)
    subprocess.run(
        [*base, "-u", "sale", "party_relationship", "--activate-dependencies"], check=True, env=env
    )
    return conf


def fill(conf: Path, name: str, uri: str) -> dict[str, object]:
    from proteus import Model, config

    # proteus takes a server database as a full URI (it sets TRYTOND_DATABASE_URI from it);
    # trytond picks its backend on first import, so the tools below are imported after this.
    database = name if uri.startswith("sqlite") else uri.rstrip("/") + "/" + name
    config.set_trytond(database=database, config_file=str(conf))
    from trytond.modules.account.tests.tools import (
        create_chart,
        create_fiscalyear,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import set_fiscalyear_invoice_sequences
    from trytond.modules.company.tests.tools import create_company, get_company

    create_company(currency="EUR")
    company = get_company()
    create_chart(company)
    accounts = get_accounts(company)
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(company))
    fiscalyear.click("create_period")

    Party = Model.get("party.party")
    customers = []
    for number, (label, city) in enumerate((("Kunde Eins", "Berlin"), ("Kunde Zwei", "Wien")), 1):
        party = Party(name=label)
        address = party.addresses[0] if party.addresses else party.addresses.new()
        address.street, address.city, address.postal_code = f"Weg {number}", city, "1000"
        mechanism = party.contact_mechanisms.new()
        mechanism.type, mechanism.value = "email", f"kunde{number}@example.de"
        mechanism = party.contact_mechanisms.new()
        mechanism.type, mechanism.value = "phone", f"+49 30 1000{number}"
        party.save()
        customers.append(party)

    # Persons are parties too; Tryton ties them to their employer by a party relation.
    RelationType = Model.get("party.relation.type")
    employee_of = RelationType(name="Employee of")
    employee_of.save()
    employer_of = RelationType(name="Employer of", reverse=employee_of)
    employer_of.save()
    employee_of.reverse = employer_of
    employee_of.save()
    persons = []
    for label, customer, kind, value in (
        ("Anna Schmidt", customers[0], "email", "Anna.Schmidt@Example.de"),
        ("Ben Meier", customers[0], "phone", "+49 30 2000 1"),
        ("Clara Huber", customers[1], "email", "clara.huber@example.at"),
    ):
        person = Party(name=label)
        mechanism = person.contact_mechanisms.new()
        mechanism.type, mechanism.value = kind, value
        relation = person.relations.new()
        relation.type, relation.to = employee_of, customer
        person.save()
        persons.append(person)

    Category = Model.get("product.category")
    category = Category(name="Waren", accounting=True)
    category.account_revenue = accounts["revenue"]
    category.save()
    Uom = Model.get("product.uom")
    (unit,) = Uom.find([("name", "=", "Unit")])
    Template = Model.get("product.template")
    products = []
    for code, price in (("P-0001", "12.50"), ("P-0002", "99.00")):
        template = Template(name=f"Artikel {code}", type="goods", salable=True)
        template.default_uom = unit
        template.list_price = Decimal(price)
        template.account_category = category
        template.save()
        (product,) = template.products
        product.suffix_code = code  # the variant's code is the template's plus this
        product.save()
        products.append(product)

    Sale = Model.get("sale.sale")
    confirmed = Sale(party=customers[0], sale_date=dt.date(2026, 1, 15))
    line = confirmed.lines.new()
    line.product, line.quantity = products[0], 3
    confirmed.click("quote")
    confirmed.click("confirm")
    draft = Sale(party=customers[1])
    line = draft.lines.new()
    line.product, line.quantity = products[1], 1
    draft.save()
    confirmed.reload()
    return {
        "customers": [party.id for party in customers],
        "persons": {person.name: person.id for person in persons},
        "company_party": get_company().party.id,
        "products": {product.code: product.id for product in products},
        "sales": {"confirmed": confirmed.id, "draft": draft.id},
        "confirmed_state": confirmed.state,
        "confirmed_number": confirmed.number,
    }


def main() -> None:
    directory, name = Path(sys.argv[1]), sys.argv[2]
    uri = sys.argv[3] if len(sys.argv) > 3 else "sqlite://"
    conf = activate(directory, name, uri)
    print(json.dumps(fill(conf, name, uri)))


if __name__ == "__main__":
    main()
